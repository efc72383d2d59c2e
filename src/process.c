/* Child processes: the count of those forked and not yet reaped. */
#include "process.h"

static unsigned unreaped;

void process_forked(void) { unreaped++; }

void process_reaped(void)
{
    if (unreaped)
        unreaped--;
}

unsigned process_unreaped(void) { return unreaped; }
