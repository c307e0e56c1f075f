# shellcheck shell=bash
# The guest image cache: key, lookup, build on a miss, leftovers of dead builds.
# (Not part of the image hash: nothing here goes into the image.)

# image_hash: hash of everything that goes into the image.
image_hash() {
    {
        printf '%s\n' "$GUEST_SUITE" "$GUEST_BASE_PKGS" "$GUEST_KERNEL_PKGS" \
            "$GUEST_ZFS_PKGS" "$GUEST_DISK_SIZE" "$DEBIAN_MIRROR"
        cat "$VM_DIR/lib/image.sh"
        find "$VM_DIR/guest" -type f -print0 | sort -z | xargs -0 sha256sum |
            sed "s|$VM_DIR/||"
    } | sha256sum | cut -c1-16
}

# ensure_image: set IMAGE_DIR, building the image when not cached.
ensure_image() {
    local hash
    hash=$(image_hash)
    IMAGE_DIR="$CACHE_DIR/image-$hash"
    export IMAGE_DIR
    if [[ -f $IMAGE_DIR/complete ]]; then
        log "guest image cached: $IMAGE_DIR"
        record_timing image_build_cached 0
        return 0
    fi
    local start
    start=$(now_ms)
    log "building guest image $hash (debootstrap + DKMS, a few minutes)"
    require_mirror
    remove_stale_builds
    build_image "$IMAGE_DIR"
    record_timing image_build "$(elapsed_s "$start")"
}

# remove_stale_builds: build directories of builds that died (never while
# anything is still mounted inside them).
remove_stale_builds() {
    local d pid m
    for d in "$CACHE_DIR"/build-*; do
        [[ -d $d ]] || continue
        pid=${d##*-}
        ! kill -0 "$pid" 2>/dev/null || continue
        for _ in 1 2 3 4 5; do  # mounts may be stacked
            while read -r m; do
                umount -l "$m" 2>/dev/null || true
            done < <(findmnt -rn -o TARGET | grep -F "$d/" | sort -r)
        done
        if findmnt -rn -o TARGET | grep -qF "$d/"; then
            log "leaving $d: something is still mounted in it"
            continue
        fi
        log "removing stale build directory $d"
        rm -rf "$d"
    done
}

