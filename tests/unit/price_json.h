/* tests/unit/price_json.h: the price list's JSON reader as the bills plugin gets it from the
 * host (fcgi/host.c json_parse and json_int64), for unit tests that load prices.c. */
#ifndef EC_TESTS_UNIT_PRICE_JSON_H
#define EC_TESTS_UNIT_PRICE_JSON_H

#include "core/json_body.h"
#include "handlers/bills/prices.h"

#include <stdio.h>

static int test_price_parse(const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
    ec_error e = {0};
    if (ec_json_body_parse(text, len, out, &e) == 0)
        return 0;
    snprintf(err, errlen, "%s", e.message);
    return -1;
}

static const ec_price_json TEST_PRICE_JSON = {test_price_parse, ec_json_int64};

#endif
