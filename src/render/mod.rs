//! Service files for systemd, SMF and OpenRC, rendered from one place.
