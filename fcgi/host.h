/*
 * fcgi/host.h: the host-services table (ec_host) handed to every plugin at init.
 *
 * The functions act on the calling worker (ec_worker_self): its database client, its token
 * settings, the request in flight. The table is static and lives as long as the process.
 */
#ifndef EC_FCGI_HOST_H
#define EC_FCGI_HOST_H

#include "ec/plugin.h"

const ec_host *ec_host_table(void);

#endif
