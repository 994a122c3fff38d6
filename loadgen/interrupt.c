/* SIGINT and SIGTERM while a command measures; see interrupt.h. */
#include "loadgen/interrupt.h"

static volatile sig_atomic_t interrupt_set;

static void interrupt_on_signal(int sig)
{
    (void)sig;
    interrupt_set = 1;
}

void interrupt_catch(struct interrupt_saved *saved)
{
    struct sigaction sa = {.sa_handler = interrupt_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &saved->old_int);
    sigaction(SIGTERM, &sa, &saved->old_term);
}

void interrupt_restore(const struct interrupt_saved *saved)
{
    sigaction(SIGINT, &saved->old_int, NULL);
    sigaction(SIGTERM, &saved->old_term, NULL);
}

const volatile sig_atomic_t *interrupt_flag(void)
{
    return &interrupt_set;
}

bool interrupt_requested(void)
{
    return interrupt_set != 0;
}
