/* tests/unit/test_gapless_id.c: how a gapless series spells its ids (core/gapless.h): short
 * series as they are, long ones with a digest that keeps series apart and never cuts. */
#include "core/gapless.h"
#include "tests/unit/tap.h"

#include <string.h>

static void repeat(char *out, const char *piece, size_t times, const char *tail)
{
    out[0] = '\0';
    for (size_t i = 0; i < times; i++)
        strcat(out, piece);
    strcat(out, tail);
}

int main(void)
{
    char id[EC_GAPLESS_ID_SIZE], other[EC_GAPLESS_ID_SIZE];
    char series[1024], series2[1024];

    ok(ec_gapless_id(id, sizeof id, "accounts", 12) == 0, "a short series");
    is_str(id, "accounts:12", "is spelled as it is");

    memset(series, 'a', EC_GAPLESS_SERIES_MAX);
    series[EC_GAPLESS_SERIES_MAX] = '\0';
    ok(ec_gapless_id(id, sizeof id, series, 1) == 0 && strlen(id) == EC_GAPLESS_SERIES_MAX + 2 &&
           strncmp(id, series, EC_GAPLESS_SERIES_MAX) == 0 && strchr(id, '#') == NULL,
       "a series of exactly EC_GAPLESS_SERIES_MAX bytes is spelled as it is");

    /* 200 three-byte characters, two series that differ only in the last one */
    repeat(series, "\xe6\xb5\x8b", 199, "\xe7\x94\xb2");
    repeat(series2, "\xe6\xb5\x8b", 199, "\xe4\xb9\x99");
    ok(ec_gapless_id(id, sizeof id, series, 7) == 0 &&
           ec_gapless_id(other, sizeof other, series2, 7) == 0,
       "a 600-byte series has ids");
    ok(strcmp(id, other) != 0, "two long series that share their start stay apart");
    const char *hash = strchr(id, '#');
    const char *colon = strrchr(id, ':');
    ok(hash != NULL && colon != NULL && colon - hash - 1 == 64 && strcmp(colon, ":7") == 0,
       "the id is start#<sha256 hex>:<n>, the number kept");
    size_t kept = (size_t)(hash - id);
    ok(kept % 3 == 0 && kept > 0 && memcmp(id, series, kept) == 0,
       "the start is cut at a character, never inside one (%zu bytes)", kept);
    ok(strlen(id) - 2 > EC_GAPLESS_SERIES_MAX,
       "a digested series is longer than any series spelled as it is");
    ok(ec_gapless_id(other, sizeof other, series, 7) == 0 && strcmp(id, other) == 0,
       "the same series always has the same id");
    ok(ec_gapless_id(other, sizeof other, series, 8) == 0 && strcmp(id, other) != 0 &&
           strncmp(id, other, (size_t)(colon - id)) == 0,
       "numbers of one long series share its spelling");

    char small[16];
    ok(ec_gapless_id(small, sizeof small, "accounts-of-the-year", 1) == -1,
       "an id that does not fit is refused, not cut");
    return tap_done();
}
