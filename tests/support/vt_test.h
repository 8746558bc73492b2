/* vt_test.h - minimal assertion macros shared by every Verity C test.
 *
 *   #include "vt_test.h"
 *   int main(void) {
 *       VT_CHECK(x > 0, "x=%d", x);
 *       VT_CHECK_EQ_INT(vt_foo(), 0);
 *       VT_CHECK_OK(vt_bar(&ei));              // == 0, prints vt_errname otherwise
 *       VT_CHECK_ERR(vt_bar(&ei), VT_ERR_AUTH); // a specific vt_err code
 *       VT_CHECK_EQ_STR(s, "abc");
 *       return vt_test_done();                 // "N passed, M failed"
 *   }
 *
 * A failed check prints "FAIL file:line: <expression> <details>" to stderr
 * and the test continues (so one run shows every failure); vt_test_done()
 * prints the summary line "N passed, M failed" and returns 0 only if nothing
 * failed (and at least one check ran). VT_REQUIRE* stop the test at once
 * (exit 1) for failures that make the rest meaningless.
 * Set VT_TEST_VERBOSE=1 to also print "ok file:line: <expression>".
 * vt_test_skip("why") prints "SKIP why" and exits 77; the CMake helper
 * vt_add_c_test sets SKIP_RETURN_CODE 77.
 * Counters are atomics: checks may run in several threads.
 * Link: vt_testsupport.
 */
#ifndef VT_TEST_H
#define VT_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Records one check; prints on failure. Returns ok. */
bool vt_test_check(bool ok, const char *file, int line, const char *expr,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int vt_test_done(void);
void vt_test_skip(const char *why) __attribute__((noreturn));
/* Number of failed checks so far. */
unsigned vt_test_failures(void);

#define VT_CHECK(cond, ...) \
    vt_test_check(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

#define VT_CHECK_EQ_INT(a, b)                                                   \
    do {                                                                        \
        long long vt_a_ = (long long)(a), vt_b_ = (long long)(b);              \
        vt_test_check(vt_a_ == vt_b_, __FILE__, __LINE__, #a " == " #b,         \
                      "got %lld, want %lld", vt_a_, vt_b_);                     \
    } while (0)

#define VT_CHECK_EQ_U64(a, b)                                                   \
    do {                                                                        \
        unsigned long long vt_a_ = (unsigned long long)(a);                     \
        unsigned long long vt_b_ = (unsigned long long)(b);                     \
        vt_test_check(vt_a_ == vt_b_, __FILE__, __LINE__, #a " == " #b,         \
                      "got %llu, want %llu", vt_a_, vt_b_);                     \
    } while (0)

#define VT_CHECK_EQ_STR(a, b)                                                   \
    do {                                                                        \
        const char *vt_a_ = (a), *vt_b_ = (b);                                  \
        vt_test_check(vt_a_ && vt_b_ && strcmp(vt_a_, vt_b_) == 0, __FILE__,    \
                      __LINE__, #a " == " #b, "got \"%s\", want \"%s\"",         \
                      vt_a_ ? vt_a_ : "(null)", vt_b_ ? vt_b_ : "(null)");      \
    } while (0)

/* expr returns a vt_err code; expect 0. */
#define VT_CHECK_OK(expr)                                                       \
    do {                                                                        \
        int vt_rc_ = (expr);                                                    \
        vt_test_check(vt_rc_ == 0, __FILE__, __LINE__, #expr,                   \
                      "returned %d (%s)", vt_rc_, vt_errname(vt_rc_));          \
    } while (0)

/* expr returns a vt_err code; expect `code`. */
#define VT_CHECK_ERR(expr, code)                                                \
    do {                                                                        \
        int vt_rc_ = (expr), vt_want_ = (code);                                 \
        vt_test_check(vt_rc_ == vt_want_, __FILE__, __LINE__, #expr,            \
                      "returned %d (%s), want %d (%s)", vt_rc_,                 \
                      vt_errname(vt_rc_), vt_want_, vt_errname(vt_want_));      \
    } while (0)

/* Like VT_CHECK but exits (status 1, after the summary) on failure. */
#define VT_REQUIRE(cond, ...)                                                   \
    do {                                                                        \
        if (!VT_CHECK(cond, __VA_ARGS__))                                       \
            exit(vt_test_done() ? 1 : 1);                                       \
    } while (0)

#define VT_REQUIRE_OK(expr)                                                     \
    do {                                                                        \
        unsigned vt_f_ = vt_test_failures();                                    \
        VT_CHECK_OK(expr);                                                      \
        if (vt_test_failures() != vt_f_)                                        \
            exit(vt_test_done() ? 1 : 1);                                       \
    } while (0)

#ifdef __cplusplus
}
#endif

#include <string.h> /* strcmp for VT_CHECK_EQ_STR */
#include "vt_err.h" /* vt_errname for VT_CHECK_OK/ERR */

#endif
