//! Terminal handling (raw no-echo line entry, restore on every exit).
