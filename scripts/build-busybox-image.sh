#!/bin/sh
# Builds a busybox root filesystem tarball from Debian's busybox-static, laid
# out like Docker Hub's busybox image (every applet a hard link in /bin), for
# `docker import`. No test pulls from the internet; this is their busybox.
#
#   scripts/build-busybox-image.sh OUT.tar [BUSYBOX_BINARY]
set -eu
out=${1:?usage: build-busybox-image.sh OUT.tar [busybox binary]}
bb=${2:-/bin/busybox}
[ -x "$bb" ] || { echo "no busybox at $bb (apt-get install busybox-static)" >&2; exit 1; }
# A dynamically linked busybox would need the host's libc inside the image.
if file_out=$(LC_ALL=C ldd "$bb" 2>&1) && ! printf %s "$file_out" | grep -q "not a dynamic"; then
    echo "$bb is dynamically linked; install busybox-static" >&2; exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/home" "$root/tmp" "$root/var/spool/mail" \
         "$root/var/www" "$root/usr" "$root/proc" "$root/sys" "$root/dev"
chmod 755 "$root"
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp "$bb" "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
for applet in $("$bb" --list); do
    [ "$applet" = busybox ] && continue
    ln "$root/bin/busybox" "$root/bin/$applet"
done
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
G
printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' > "$root/etc/shadow"
chmod 640 "$root/etc/shadow"
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$out" .
