/*
 * fcgi/audit_log.h: the audit log's route, loaded like a plugin named "audit_log":
 * GET /api/v1/ops/audit-log (operators only), a page of core/oplog's records.
 */
#ifndef EC_FCGI_AUDIT_LOG_H
#define EC_FCGI_AUDIT_LOG_H

#include "ec/plugin.h"

extern const ec_plugin ec_audit_log_plugin;

#endif
