/* vt_clock.h - time sources.
 *
 * Monotonic clocks (CLOCK_MONOTONIC) for timeouts, leases, rate limits and
 * durations: they never jump when the wall clock is set. The wall clock
 * (CLOCK_REALTIME) is only for timestamps people read or that are stored
 * (log lines, "created" fields in Redis).
 */
#ifndef VT_CLOCK_H
#define VT_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint64_t vt_mono_ns(void); /* monotonic, nanoseconds since an arbitrary epoch */
uint64_t vt_mono_us(void); /* monotonic, microseconds */
uint64_t vt_mono_ms(void); /* monotonic, milliseconds */
int64_t vt_wall_ms(void);  /* wall clock, milliseconds since 1970-01-01 UTC */

/* Sleep at least ms milliseconds (restarts after EINTR). */
void vt_sleep_ms(uint64_t ms);

/* Format a wall-clock time as "2026-11-24T02:10:00.123Z" (24 chars + NUL).
 * buf must hold VT_TIME_BUFSZ bytes. Returns buf. */
#define VT_TIME_BUFSZ 32
char *vt_wall_format(int64_t wall_ms, char buf[VT_TIME_BUFSZ]);

#ifdef __cplusplus
}
#endif
#endif
