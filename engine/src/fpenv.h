/* fpenv.h - pin the floating-point environment while engine code runs.
 *
 * Every operation order in docs/determinism.md assumes IEEE round-to-
 * nearest-even with subnormals kept. A process can change that behind our
 * back (a library built with -ffast-math sets flush-to-zero / denormals-are-
 * zero in MXCSR at start-up), so vt_forward and the pool threads set the
 * default control word themselves and restore the caller's on the way out. */
#ifndef VT_FPENV_H
#define VT_FPENV_H

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

typedef unsigned int vt_fpenv;

/* 0x1f80: all exceptions masked, round to nearest, FTZ and DAZ off. */
static inline vt_fpenv vt_fpenv_enter(void)
{
    vt_fpenv old = _mm_getcsr();
    _mm_setcsr(0x1f80u);
    return old;
}

static inline void vt_fpenv_leave(vt_fpenv old)
{
    _mm_setcsr(old);
}
#else
#include <fenv.h>

typedef int vt_fpenv;

static inline vt_fpenv vt_fpenv_enter(void)
{
    int old = fegetround();
    fesetround(FE_TONEAREST);
    return old;
}

static inline void vt_fpenv_leave(vt_fpenv old)
{
    fesetround(old);
}
#endif

#endif
