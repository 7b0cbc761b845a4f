/*
 * fcgi/builtin.h: the host's own routes, loaded like a plugin named "host":
 * GET /api/v1/version, GET /healthz, GET /status (loopback) and GET /metrics (loopback).
 */
#ifndef EC_FCGI_BUILTIN_H
#define EC_FCGI_BUILTIN_H

#include "ec/plugin.h"

extern const ec_plugin ec_builtin_plugin;

#endif
