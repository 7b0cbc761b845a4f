/*
 * plugins/aliyun/aliyun.h: the `aliyun` settlement provider (Alibaba Cloud Marketplace),
 * shared between its files: aliyun.c (config, lifecycle callbacks, binding, the command)
 * and push.c (PushMeteringData, at most once, and the operators' resolution of unknown
 * pushes).
 *
 * Collections:
 *   aliyun_instances {_id: instance id, ali_uid, order_biz_id, order_id, sku_id, product_code,
 *                     expired_on, created_at}: written by a verified createInstance (a unique
 *                     insert per order, so a repeated call answers the same instance id)
 *   aliyun_pushes    {_id: bill id, state "sending"|"pushed"|"unknown"|"failed", instance,
 *                     amount, at, detail}: the claim a push makes before it is sent
 *   aliyun_unknown   gapless series "pushes" of {bill, at}: the pushes an operator must resolve
 *   cloud_cancellations {_id "aliyun:<instance id>", at, action}
 */
#ifndef PLUGINS_ALIYUN_H
#define PLUGINS_ALIYUN_H

#include "ec/plugin.h"

#define ALIYUN_PLUGIN "aliyun"
#define ALIYUN_INSTANCES "aliyun_instances"
#define ALIYUN_PUSHES "aliyun_pushes"
#define ALIYUN_UNKNOWN "aliyun_unknown"
#define ALIYUN_UNKNOWN_SERIES "pushes"
#define ALIYUN_CANCELLATIONS "cloud_cancellations"

typedef struct aliyun_state {
    const ec_host *host;
    const char *endpoint;      /* the Market API, https:// (http:// only as the host allows) */
    const char *access_key_id; /* of the seller's RAM user */
    char *access_secret;       /* from access_key_secret_file (0600), never logged */
    char *spi_key;             /* the marketplace's callback key, from spi_key_file (0600) */
    const char *metering_key;  /* the Entities Key the remainder is reported under */
    long timeout_ms;           /* of one push */
} aliyun_state;

extern aliyun_state *aliyun_global; /* the worker's state, for the provider callbacks */

const char *aliyun_doc_str(const bson_t *doc, const char *key);

/* push.c */
int aliyun_settle(ec_request *req, const ec_settlement *s, const char **detail);
int aliyun_push_get(ec_request *req, void *state);
int aliyun_push_resolve(ec_request *req, void *state);
int aliyun_unknown_list(ec_request *req, void *state);

#endif
