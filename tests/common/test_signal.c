/* test_signal.c - signals become events for the main loop. */
#include <signal.h>
#include <unistd.h>

#include "vt_signal.h"
#include "vt_test.h"

int main(void)
{
    vt_signals *s;
    vt_errinfo ei = {0, ""};
    VT_REQUIRE_OK(vt_signals_start(&s, &ei));
    VT_CHECK_EQ_INT(vt_signals_wait(s, 10), 0); /* nothing yet: timeout */
    VT_CHECK(!vt_signals_stop_requested(s), "no stop yet");

    kill(getpid(), SIGHUP);
    VT_CHECK_EQ_INT(vt_signals_wait(s, 5000), SIGHUP);
    VT_CHECK_EQ_INT(vt_signals_hup_count(s), 1);
    VT_CHECK(!vt_signals_stop_requested(s), "HUP is not a stop");

    kill(getpid(), SIGTERM); /* would kill us if it were not handled */
    VT_CHECK_EQ_INT(vt_signals_wait(s, 5000), SIGTERM);
    VT_CHECK(vt_signals_stop_requested(s), "TERM requests stop");

    kill(getpid(), SIGPIPE); /* ignored */
    vt_signals_raise(s, SIGINT);
    VT_CHECK_EQ_INT(vt_signals_wait(s, 5000), SIGINT);
    VT_CHECK_EQ_INT(vt_signals_wait(s, 10), 0);
    vt_signals_stop(s);
    return vt_test_done();
}
