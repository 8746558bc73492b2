/* f16.c - IEEE 754 binary16 <-> binary32 by bit manipulation.
 *
 * Done by hand (not _Float16 or F16C) so the result is the same on every
 * compiler and CPU: f16->f32 is exact; f32->f16 rounds to nearest, ties to
 * even, overflows to infinity and keeps NaN a (quiet) NaN.
 */
#include "vt_gguf.h"
#include "vt_math.h"

float vt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) /* inf / NaN: keep the payload */
        return vt_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return vt_bits_f32(sign);
        /* Subnormal: value = man * 2^-24, exact in float. */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return vt_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t vt_f32_to_f16(float f)
{
    uint32_t x = vt_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xff) /* inf stays inf, NaN stays NaN (force a mantissa bit) */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15; /* rebiased exponent */
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00u); /* too large: inf */
    if (e <= 0) {
        /* Result is subnormal (or zero): shift the full significand right. */
        if (e < -10)
            return sign; /* below half the smallest subnormal: +-0 */
        uint32_t m = man | 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t q = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    /* Carry from rounding may bump the exponent, even into inf: correct. */
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u)))
        q++;
    return (uint16_t)(sign | q);
}
