/* The proftpd headers our Rust host layer binds (bindgen input).
 *
 * conf.h pulls in config.h, which fixes struct layouts (off_t size, IPv6,
 * OpenSSL, Redis support), so it must be the header of the proftpd that will
 * load the module: by default Debian's proftpd-dev in /usr/include/proftpd.
 */
#include "conf.h"
#include "privs.h"
#include "logfmt.h"
#include "jot.h"
#include "json.h"
#include "redis.h"
#include "xferlog.h"
