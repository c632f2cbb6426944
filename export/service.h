// export/service.h: the exporter inside a process, driven by options.
//
// xsmem_export_start() reads the options once and starts what they ask for:
//   XSMEM_HTTP=HOST:PORT          the HTTP endpoint (http.h)
//   XSMEM_SNAPSHOT=PATH           a protobuf Snapshot written at exit; "%p" in
//                                 PATH becomes the process id
//   XSMEM_SNAPSHOT_INTERVAL_MS=N  a snapshot appended every N ms as well: PATH
//                                 is then a stream of snapshot records
//                                 (snapshot.h) whose last is taken at exit
//   XSMEM_ALERT_*                 thresholds evaluated by the sampler (monitor.h)
// One background thread (the sampler) runs while any of them is set: it
// samples every 250 ms and appends the periodic snapshots. xsmem_export_stop()
// stops the server and the thread (joining both), then writes the exit
// snapshot. //export:runtime calls start from a constructor and stop from a
// destructor; a forked child inherits neither thread and writes nothing
// (only the process that started the exporter does).
// Thread-safety: start and stop are serialized by a lock and idempotent.
#ifndef XSMEM_EXPORT_SERVICE_H_
#define XSMEM_EXPORT_SERVICE_H_

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Starts what the options ask for. Returns false when something asked for
// could not start (logged); the rest still runs.
bool xsmem_export_start(void);

// Stops everything and writes the exit snapshot (if XSMEM_SNAPSHOT is set).
void xsmem_export_stop(void);

// Returns the HTTP port being served, 0 when none.
uint16_t xsmem_export_http_port(void);

// Writes the snapshot file now (as at exit). Returns false when XSMEM_SNAPSHOT
// is unset or the write failed (logged).
bool xsmem_export_write_snapshot(void);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_SERVICE_H_
