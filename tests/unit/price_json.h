/* tests/unit/price_json.h: the price list's JSON reader as the bills plugin gets it from the
 * host (host->json_parse and host->json_int64), for unit tests that load prices.c. */
#ifndef EC_TESTS_UNIT_PRICE_JSON_H
#define EC_TESTS_UNIT_PRICE_JSON_H

#include "core/json_body.h"
#include "handlers/bills/prices.h"

static const ec_price_json TEST_PRICE_JSON = {ec_json_text_parse, ec_json_int64};

#endif
