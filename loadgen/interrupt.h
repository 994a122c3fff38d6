#ifndef OFFLOAD_LOADGEN_INTERRUPT_H
#define OFFLOAD_LOADGEN_INTERRUPT_H
/* SIGINT and SIGTERM while a command measures: the handler only sets a flag
 * that the run engine (run_opts.interrupted) and the command's own loops
 * poll, so the run ends early and still reports what it measured. */
#include <signal.h>
#include <stdbool.h>

/* The handlers interrupt_catch replaced. */
struct interrupt_saved {
    struct sigaction old_int, old_term;
};

/* Installs the flag-setting handler for SIGINT and SIGTERM; the previous
 * handlers go into *saved (the caller's) for interrupt_restore. */
void interrupt_catch(struct interrupt_saved *saved);

/* Puts back the handlers interrupt_catch replaced. */
void interrupt_restore(const struct interrupt_saved *saved);

/* The flag the handler sets; never cleared. Static storage: for
 * run_opts.interrupted. */
const volatile sig_atomic_t *interrupt_flag(void);

/* Whether the flag is set: a signal came since the process started. */
bool interrupt_requested(void);

#endif
