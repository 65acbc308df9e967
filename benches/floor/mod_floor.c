/*
 * mod_floor: the floor of the instruction benchmark (docs/benchmarks.md).
 *
 * One LOG_CMD handler for every command (C_ANY) that does nothing: what a
 * session costs with it, minus the same session without it, is what the
 * proftpd core spends on any module's LOG_CMD handler per command
 * (dispatching it, the command's temporary pool, the core's debug logging
 * around it), before the handler does any work of its own.
 *
 * Built by the benchmark with `prxs -c mod_floor.c` in its scratch
 * directory; not part of the module library.
 */

#include "conf.h"

MODRET floor_log_any(cmd_rec *cmd) {
  return PR_DECLINED(cmd);
}

static cmdtable floor_cmdtab[] = {
  { LOG_CMD, C_ANY, G_NONE, floor_log_any, FALSE, FALSE },
  { 0, NULL }
};

module floor_module = {
  NULL, NULL,           /* always NULL */
  0x20,                 /* module API version */
  "floor",              /* module name */
  NULL,                 /* configuration directives */
  floor_cmdtab,         /* command handlers */
  NULL,                 /* authentication handlers */
  NULL,                 /* init */
  NULL,                 /* session init */
  "mod_floor/0.1"       /* module version */
};
