#!/usr/bin/python3
# A FUSE filesystem that models a page cache and power loss, for Larder's power-cut tests.
#
#   /usr/bin/python3 lazyfs.py BACKING MOUNTPOINT
#
# Everything written through MOUNTPOINT stays in this process's memory until it is made
# durable the way POSIX says, strictly:
#
# - a file's bytes reach BACKING only when that file is fsync'd or fdatasync'd;
# - a name that is created, renamed or unlinked in a folder is durable only once that
#   folder is fsync'd (the file's own fsync does not make its name durable).
#
# Commands, one per line on standard input:
#   crash   drop everything that is not durable, as a power cut would; the mount then shows
#           BACKING's state (unmount and mount again before trusting kernel caches)
#   stats   prints "stats <file fsyncs> <folder fsyncs> <dirty bytes> <folders with undurable names>"
# Each command answers one line on standard output. "ready" is printed once mounted.
#
# BACKING holds the durable state as a real tree: tree/ is the durable namespace, and each
# file's durable bytes live in ino/<n>, hard-linked from its durable names in tree/. A new
# process on the same BACKING starts from exactly that state, which is how a remount after
# a crash sees the disk.

import errno
import os
import shutil
import stat
import sys
import threading
import time

import fusepy
from fusepy import FUSE, FuseOSError

PAGE = 4096


class Node:
    def __init__(self, ident, is_dir, mode):
        self.id = ident
        self.is_dir = is_dir
        self.mode = mode
        self.mtime = time.time()
        self.nlink = 0  # current names
        self.dlinks = 0  # durable names
        self.opens = 0
        # folders: current and durable entries
        self.entries = {}
        self.durable = {}
        # files: durable bytes in `store`; current bytes = store prefix [0, valid) overlaid with `dirty` pages
        self.store = None
        self.size = 0
        self.valid = 0
        self.dirty = {}


class LazyFs:
    def __init__(self, backing):
        self.backing = os.path.abspath(backing)
        self.lock = threading.RLock()
        self.file_syncs = 0
        self.dir_syncs = 0
        self.load()

    # --- durable state on BACKING -------------------------------------------------------

    def load(self):
        tree = os.path.join(self.backing, "tree")
        inos = os.path.join(self.backing, "ino")
        os.makedirs(tree, exist_ok=True)
        os.makedirs(inos, exist_ok=True)
        self.handles = {}
        self.next_fh = 1
        by_ino = {}
        self.next_id = 2
        for name in os.listdir(inos):
            path = os.path.join(inos, name)
            st = os.stat(path)
            if st.st_nlink == 1:  # bytes synced under no durable name: lost in the cut
                os.unlink(path)
                continue
            node = Node(int(name), False, stat.S_IFREG | 0o644)
            node.store = path
            node.size = node.valid = st.st_size
            by_ino[st.st_ino] = node
            self.next_id = max(self.next_id, node.id + 1)
        self.root = Node(1, True, stat.S_IFDIR | 0o755)
        self.root.nlink = self.root.dlinks = 1
        self.load_dir(self.root, tree, by_ino)

    def load_dir(self, folder, path, by_ino):
        for name in os.listdir(path):
            full = os.path.join(path, name)
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode):
                child = Node(self.new_id(), True, stat.S_IFDIR | 0o755)
                self.load_dir(child, full, by_ino)
            else:
                child = by_ino.get(st.st_ino)
                if child is None:  # a file put into tree/ by hand: adopt it
                    child = Node(self.new_id(), False, stat.S_IFREG | 0o644)
                    child.store = os.path.join(self.backing, "ino", str(child.id))
                    os.link(full, child.store)
                    child.size = child.valid = st.st_size
                    by_ino[st.st_ino] = child
            folder.entries[name] = child
            folder.durable[name] = child
            child.nlink += 1
            child.dlinks += 1

    def new_id(self):
        self.next_id += 1
        return self.next_id - 1

    def durable_path(self, folder):
        """The folder's path under tree/ in the durable namespace, or None if it has none."""
        stack = [(self.root, os.path.join(self.backing, "tree"))]
        while stack:
            node, path = stack.pop()
            if node is folder:
                return path
            for name, child in node.durable.items():
                if child.is_dir:
                    stack.append((child, os.path.join(path, name)))
        return None

    def materialize(self, folder, path):
        """Makes tree/ at `path` match the folder's durable entries."""
        existing = set(os.listdir(path))
        for name in existing - set(folder.durable):
            full = os.path.join(path, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
        for name, child in folder.durable.items():
            full = os.path.join(path, name)
            if child.is_dir:
                if name in existing and not os.path.isdir(full):
                    os.unlink(full)
                    existing.discard(name)
                if name not in existing:
                    os.mkdir(full)
                    self.materialize(child, full)
            else:
                store = self.store_of(child)
                if name in existing and os.path.isdir(full):
                    shutil.rmtree(full)
                    existing.discard(name)
                if name in existing and os.stat(full).st_ino == os.stat(store).st_ino:
                    continue
                tmp = os.path.join(path, ".lazyfs-link")
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                os.link(store, tmp)
                os.rename(tmp, full)

    def store_of(self, node):
        if node.store is None:
            node.store = os.path.join(self.backing, "ino", str(node.id))
            open(node.store, "wb").close()  # durable bytes so far: none
        return node.store

    # --- bytes --------------------------------------------------------------------------

    def page(self, node, index, fd_cache):
        page = node.dirty.get(index)
        if page is not None:
            return page
        page = bytearray(PAGE)
        start = index * PAGE
        if start < node.valid and node.store is not None:
            if fd_cache.get("fd") is None:
                fd_cache["fd"] = os.open(node.store, os.O_RDONLY)
            data = os.pread(fd_cache["fd"], min(PAGE, node.valid - start), start)
            page[: len(data)] = data
        return page

    def read_bytes(self, node, size, offset):
        end = min(node.size, offset + size)
        if offset >= end:
            return b""
        out = bytearray()
        cache = {}
        try:
            index = offset // PAGE
            while index * PAGE < end:
                page = self.page(node, index, cache)
                lo = max(offset, index * PAGE) - index * PAGE
                hi = min(end, (index + 1) * PAGE) - index * PAGE
                out += page[lo:hi]
                index += 1
        finally:
            if cache.get("fd") is not None:
                os.close(cache["fd"])
        return bytes(out)

    def write_bytes(self, node, data, offset):
        cache = {}
        try:
            pos = 0
            while pos < len(data):
                at = offset + pos
                index = at // PAGE
                lo = at - index * PAGE
                n = min(PAGE - lo, len(data) - pos)
                page = self.page(node, index, cache)
                page[lo : lo + n] = data[pos : pos + n]
                node.dirty[index] = page
                pos += n
        finally:
            if cache.get("fd") is not None:
                os.close(cache["fd"])
        node.size = max(node.size, offset + len(data))
        node.mtime = time.time()
        return len(data)

    def truncate_bytes(self, node, length):
        if length < node.size:
            cache = {}
            try:
                if length % PAGE:
                    index = length // PAGE
                    page = self.page(node, index, cache)
                    page[length % PAGE :] = bytes(PAGE - length % PAGE)
                    node.dirty[index] = page
            finally:
                if cache.get("fd") is not None:
                    os.close(cache["fd"])
            for index in [i for i in node.dirty if i * PAGE >= length]:
                del node.dirty[index]
            node.valid = min(node.valid, length)
        node.size = length
        node.mtime = time.time()

    def sync_file(self, node):
        self.file_syncs += 1
        if node.is_dir:
            return self.sync_dir(node)
        store = self.store_of(node)
        fd = os.open(store, os.O_WRONLY)
        try:
            for index in sorted(node.dirty):
                start = index * PAGE
                if start < node.size:
                    os.pwrite(fd, bytes(node.dirty[index][: min(PAGE, node.size - start)]), start)
            os.ftruncate(fd, node.size)
        finally:
            os.close(fd)
        node.dirty.clear()
        node.valid = node.size

    def sync_dir(self, folder):
        self.dir_syncs += 1
        for child in folder.durable.values():
            child.dlinks -= 1
        old = folder.durable
        folder.durable = dict(folder.entries)
        for child in folder.durable.values():
            child.dlinks += 1
        path = self.durable_path(folder)
        if path is not None:
            self.materialize(folder, path)
        for child in old.values():
            self.collect(child)

    def collect(self, node):
        """Forgets a file that has no current name, no durable name and no open handle."""
        if node.is_dir or node.nlink > 0 or node.dlinks > 0 or node.opens > 0:
            return
        node.dirty.clear()
        if node.store is not None and os.path.exists(node.store):
            os.unlink(node.store)
        node.store = None

    # --- names --------------------------------------------------------------------------

    def lookup(self, path):
        node = self.root
        for part in [p for p in path.split("/") if p]:
            if not node.is_dir or part not in node.entries:
                raise FuseOSError(errno.ENOENT)
            node = node.entries[part]
        return node

    def parent(self, path):
        head, name = os.path.split(path.rstrip("/"))
        folder = self.lookup(head)
        if not folder.is_dir:
            raise FuseOSError(errno.ENOTDIR)
        return folder, name

    def node_of(self, path, fh):
        if fh is not None and fh in self.handles:
            return self.handles[fh]
        if path is None:
            raise FuseOSError(errno.EBADF)
        return self.lookup(path)

    def open_handle(self, node):
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = node
        node.opens += 1
        return fh

    # --- control ------------------------------------------------------------------------

    def crash(self):
        dirty = 0
        undurable = 0
        stack = [self.root]
        seen = set()
        while stack:
            node = stack.pop()
            if node.id in seen:
                continue
            seen.add(node.id)
            if node.is_dir:
                if node.entries != node.durable:
                    undurable += 1
                stack.extend(node.entries.values())
            else:
                dirty += len(node.dirty) * PAGE
        self.load()
        return f"crashed {dirty} {undurable}"

    def stats(self):
        dirty = 0
        undurable = 0
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.is_dir:
                undurable += node.entries != node.durable
                stack.extend(node.entries.values())
            else:
                dirty += sum(min(PAGE, max(0, node.size - i * PAGE)) for i in node.dirty)
        return f"stats {self.file_syncs} {self.dir_syncs} {dirty} {undurable}"


class Ops:
    """fusepy's operations, each under one lock (the control thread shares it)."""

    flag_nullpath_ok = 1
    OPS = frozenset(['access', 'rename', 'chmod', 'chown', 'create', 'destroy', 'flush', 'fsync', 'fsyncdir', 'getattr', 'init', 'mkdir', 'open', 'opendir', 'read', 'readdir', 'release', 'releasedir', 'rmdir', 'statfs', 'truncate', 'unlink', 'utimens', 'write'])
    use_ns = True

    def __init__(self, fs):
        self.fs = fs

    def __call__(self, op, *args):
        handler = getattr(self, op, None) if op in self.OPS else None
        if handler is None:
            raise FuseOSError(errno.ENOSYS)
        with self.fs.lock:
            return handler(*args)

    def init(self, path):
        print("ready", flush=True)

    def destroy(self, path):
        pass

    def statfs(self, path):
        return {"f_bsize": PAGE, "f_frsize": PAGE, "f_blocks": 1 << 24, "f_bfree": 1 << 23, "f_bavail": 1 << 23,
                "f_files": 1 << 20, "f_ffree": 1 << 19, "f_favail": 1 << 19, "f_namemax": 255}

    def access(self, path, mode):
        self.fs.lookup(path)
        return 0

    def getattr(self, path, fh=None):
        node = self.fs.node_of(path, fh)
        ns = int(node.mtime * 1e9)
        return {"st_mode": node.mode, "st_nlink": max(1, node.nlink) + (1 if node.is_dir else 0),
                "st_size": 4096 if node.is_dir else node.size, "st_uid": 0, "st_gid": 0,
                "st_mtime": ns, "st_ctime": ns, "st_atime": ns, "st_blocks": (node.size + 511) // 512}

    def chmod(self, path, mode):
        node = self.fs.lookup(path)
        node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
        return 0

    def chown(self, path, uid, gid):
        return 0

    def utimens(self, path, times=None):
        return 0

    def readdir(self, path, fh):
        folder = self.fs.node_of(path, fh)
        return [".", ".."] + list(folder.entries)

    def opendir(self, path):
        node = self.fs.lookup(path)
        if not node.is_dir:
            raise FuseOSError(errno.ENOTDIR)
        return self.fs.open_handle(node)

    def releasedir(self, path, fh):
        node = self.fs.handles.pop(fh, None)
        if node is not None:
            node.opens -= 1
        return 0

    def fsyncdir(self, path, datasync, fh):
        self.fs.sync_dir(self.fs.node_of(path, fh))
        return 0

    def mkdir(self, path, mode):
        folder, name = self.fs.parent(path)
        if name in folder.entries:
            raise FuseOSError(errno.EEXIST)
        child = Node(self.fs.new_id(), True, stat.S_IFDIR | (mode & 0o7777))
        child.nlink = 1
        folder.entries[name] = child
        folder.mtime = time.time()
        return 0

    def rmdir(self, path):
        folder, name = self.fs.parent(path)
        child = folder.entries.get(name)
        if child is None:
            raise FuseOSError(errno.ENOENT)
        if not child.is_dir:
            raise FuseOSError(errno.ENOTDIR)
        if child.entries:
            raise FuseOSError(errno.ENOTEMPTY)
        del folder.entries[name]
        child.nlink -= 1
        folder.mtime = time.time()
        return 0

    def create(self, path, mode, fi=None):
        folder, name = self.fs.parent(path)
        node = folder.entries.get(name)
        if node is None:
            node = Node(self.fs.new_id(), False, stat.S_IFREG | (mode & 0o7777))
            node.nlink = 1
            folder.entries[name] = node
            folder.mtime = time.time()
        return self.fs.open_handle(node)

    def open(self, path, flags):
        node = self.fs.lookup(path)
        if flags & os.O_TRUNC:
            self.fs.truncate_bytes(node, 0)
        return self.fs.open_handle(node)

    def read(self, path, size, offset, fh):
        return self.fs.read_bytes(self.fs.node_of(path, fh), size, offset)

    def write(self, path, data, offset, fh):
        return self.fs.write_bytes(self.fs.node_of(path, fh), data, offset)

    def truncate(self, path, length, fh=None):
        self.fs.truncate_bytes(self.fs.node_of(path, fh), length)
        return 0

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        node = self.fs.handles.pop(fh, None)
        if node is not None:
            node.opens -= 1
            self.fs.collect(node)
        return 0

    def fsync(self, path, datasync, fh):
        self.fs.sync_file(self.fs.node_of(path, fh))
        return 0

    def unlink(self, path):
        folder, name = self.fs.parent(path)
        node = folder.entries.get(name)
        if node is None:
            raise FuseOSError(errno.ENOENT)
        if node.is_dir:
            raise FuseOSError(errno.EISDIR)
        del folder.entries[name]
        node.nlink -= 1
        folder.mtime = time.time()
        self.fs.collect(node)
        return 0

    def rename(self, old, new):
        src, old_name = self.fs.parent(old)
        dst, new_name = self.fs.parent(new)
        node = src.entries.get(old_name)
        if node is None:
            raise FuseOSError(errno.ENOENT)
        replaced = dst.entries.get(new_name)
        if replaced is node:
            return 0
        if replaced is not None:
            if replaced.is_dir and replaced.entries:
                raise FuseOSError(errno.ENOTEMPTY)
            replaced.nlink -= 1
        del src.entries[old_name]
        dst.entries[new_name] = node
        src.mtime = dst.mtime = time.time()
        if replaced is not None:
            self.fs.collect(replaced)
        return 0


def control(fs):
    for line in sys.stdin:
        command = line.strip()
        with fs.lock:
            if command == "crash":
                answer = fs.crash()
            elif command == "stats":
                answer = fs.stats()
            elif command == "":
                continue
            else:
                answer = f"error unknown command {command}"
        print(answer, flush=True)


def main():
    backing, mountpoint = sys.argv[1], sys.argv[2]
    fs = LazyFs(backing)
    threading.Thread(target=control, args=(fs,), daemon=True).start()
    FUSE(Ops(fs), mountpoint, foreground=True, nothreads=True, hard_remove=True, big_writes=True,
         max_write=131072, attr_timeout=0, entry_timeout=0, negative_timeout=0, fsname="lazyfs",
         subtype="lazyfs")


if __name__ == "__main__":
    main()
