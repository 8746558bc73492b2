/* vt_clock.c - monotonic and wall clocks (see vt_clock.h). */
#include "vt_clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

uint64_t vt_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vt_mono_us(void)
{
    return vt_mono_ns() / 1000u;
}

uint64_t vt_mono_ms(void)
{
    return vt_mono_ns() / 1000000u;
}

int64_t vt_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vt_sleep_ms(uint64_t ms)
{
    struct timespec req = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    struct timespec rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

char *vt_wall_format(int64_t wall_ms, char buf[VT_TIME_BUFSZ])
{
    time_t secs = (time_t)(wall_ms / 1000);
    int ms = (int)(wall_ms % 1000);
    if (ms < 0) { /* before 1970: keep the fraction positive */
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(buf, VT_TIME_BUFSZ, "invalid-time");
        return buf;
    }
    /* Wide scratch buffer: gcc cannot prove the fields are small. */
    char tmp[96];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ms);
    snprintf(buf, VT_TIME_BUFSZ, "%.31s", tmp);
    return buf;
}
