#include "tests/support/hostile_layers.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <stdexcept>

namespace hoist_test {

long TarWriter::write_cb(archive*, void* self, const void* buf, unsigned long n) {
  auto* w = static_cast<TarWriter*>(self);
  if (w->cut_) return -1;  // a cut tar: refuse the bomb's padding libarchive would write
  w->bytes_.append(static_cast<const char*>(buf), n);
  return long(n);
}

TarWriter::TarWriter() : a_(archive_write_new()) {
  archive_write_set_format_pax_restricted(a_);
  archive_write_add_filter_none(a_);
  // Unblocked, so bytes_ holds each header as soon as it is written (bomb_header cuts there).
  archive_write_set_bytes_per_block(a_, 0);
  if (archive_write_open2(a_, this, nullptr, &TarWriter::write_cb, nullptr, nullptr) != ARCHIVE_OK)
    throw std::runtime_error("archive_write_open2 failed");
}

TarWriter::~TarWriter() { archive_write_free(a_); }

TarWriter& TarWriter::add(const std::string& name, int type, int perm, const std::string& content,
                          const std::string* symlink, const std::string* hardlink, int uid, int gid,
                          unsigned long rdev) {
  if (cut_) throw std::logic_error("TarWriter: entry after a bomb header");
  archive_entry* e = archive_entry_new();
  archive_entry_copy_pathname(e, name.c_str());
  archive_entry_set_filetype(e, unsigned(type));
  archive_entry_set_perm(e, mode_t(perm));
  archive_entry_set_uid(e, uid);
  archive_entry_set_gid(e, gid);
  archive_entry_set_mtime(e, 1600000000, 0);
  if (symlink) archive_entry_copy_symlink(e, symlink->c_str());
  if (hardlink) archive_entry_copy_hardlink(e, hardlink->c_str());
  if (rdev) archive_entry_set_rdev(e, dev_t(rdev));
  archive_entry_set_size(e, la_int64_t(content.size()));
  int r = archive_write_header(a_, e);
  archive_entry_free(e);
  if (r < ARCHIVE_WARN)
    throw std::runtime_error("TarWriter: writing " + name + ": " + archive_error_string(a_));
  if (!content.empty() && archive_write_data(a_, content.data(), content.size()) < 0)
    throw std::runtime_error("TarWriter: writing data of " + name);
  return *this;
}

TarWriter& TarWriter::file(const std::string& name, const std::string& content, int mode, int uid,
                           int gid) {
  return add(name, AE_IFREG, mode, content, nullptr, nullptr, uid, gid);
}
TarWriter& TarWriter::dir(const std::string& name, int mode, int uid, int gid) {
  return add(name, AE_IFDIR, mode, "", nullptr, nullptr, uid, gid);
}
TarWriter& TarWriter::symlink(const std::string& name, const std::string& target) {
  return add(name, AE_IFLNK, 0777, "", &target, nullptr);
}
TarWriter& TarWriter::hardlink(const std::string& name, const std::string& target) {
  return add(name, AE_IFREG, 0644, "", nullptr, &target);
}
TarWriter& TarWriter::node(const std::string& name, char type, int major, int minor) {
  int t = type == 'c' ? AE_IFCHR : type == 'b' ? AE_IFBLK : AE_IFIFO;
  return add(name, t, 0600, "", nullptr, nullptr, 0, 0, ::makedev(unsigned(major), unsigned(minor)));
}

TarWriter& TarWriter::bomb_header(const std::string& name, long long size) {
  archive_entry* e = archive_entry_new();
  archive_entry_copy_pathname(e, name.c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, size);
  int r = archive_write_header(a_, e);
  archive_entry_free(e);
  if (r < ARCHIVE_WARN) throw std::runtime_error("TarWriter: writing the bomb header");
  cut_ = true;
  bytes_.append(std::string(1024, '\0'));  // a few zero blocks; the size says far more follows
  return *this;
}

std::string TarWriter::finish() {
  if (!cut_) archive_write_close(a_);
  return bytes_;
}

namespace {

// More ".." than any root is deep, then the canary's absolute path: followed on the host,
// it reaches the canary.
std::string climb_to(const std::string& canary) {
  std::string up;
  for (int i = 0; i < 24; ++i) up += "../";
  return up + canary.substr(1);
}

const Expected kContained{Outcome::Contained, ""};
Expected refused(const std::string& entry) { return {Outcome::Refused, entry}; }

}  // namespace

HostileCase whiteouts_under_symlink_case(const std::string& canary) {
  TarWriter t;
  t.symlink("a", canary)
      .file("a/b/.wh.x", "")
      .file("a/sub/.wh..wh..opq", "")
      .file("a/sub/new/deeper/.wh.y", "");
  return {"whiteouts-under-symlink",
          "a -> CANARY, then a/b/.wh.x, a/sub/.wh..wh..opq, a/sub/new/deeper/.wh.y (the issue's case)",
          {t.finish()},
          kContained,
          refused("a/b/.wh.x"),
          refused("a/b/.wh.x")};
}

std::vector<HostileCase> hostile_cases(const std::string& canary) {
  std::vector<HostileCase> out;
  auto one = [&](std::string name, std::string what, TarWriter& t, Expected apply, Expected overlay,
                 Expected archive) {
    out.push_back({std::move(name), std::move(what), {t.finish()}, apply, overlay, archive});
  };
  const std::string canary_rel = canary.substr(1);
  {
    TarWriter t;
    t.file("../pwned-dotdot");
    one("dotdot", "a file named ../pwned-dotdot", t, refused("../pwned-dotdot"),
        refused("../pwned-dotdot"), refused("../pwned-dotdot"));
  }
  {
    TarWriter t;
    t.dir("a").file("a/../../pwned-deep");
    one("dotdot-inner", "a/../../pwned-deep", t, refused("a/../../pwned-deep"),
        refused("a/../../pwned-deep"), refused("a/../../pwned-deep"));
  }
  {
    TarWriter t;
    t.file(canary + "/pwned-abs");
    one("absolute-name", "a file named CANARY/pwned-abs (absolute)", t,
        refused(canary + "/pwned-abs"), refused(canary + "/pwned-abs"), kContained);
  }
  {
    TarWriter t;
    t.symlink("l", canary).file("l/pwned");
    one("symlink-absolute", "l -> CANARY, then l/pwned", t, refused("l/pwned"), refused("l/pwned"),
        refused("l/pwned"));
  }
  {
    TarWriter t;
    t.file(canary_rel + "/inside", "ok").symlink("l", canary).file("l/pwned");
    one("symlink-absolute-inside", "ROOT/CANARY exists, l -> CANARY, l/pwned: lands in ROOT/CANARY",
        t, kContained, kContained, kContained);
  }
  {
    TarWriter t;
    t.symlink("l", climb_to(canary)).file("l/pwned");
    one("symlink-relative", "l -> ../../..(x24)/CANARY, then l/pwned", t, refused("l/pwned"),
        refused("l/pwned"), refused("l/pwned"));
  }
  {
    TarWriter t;
    t.symlink("a", "b").symlink("b", "c").symlink("c", "../../../../../../..").file("a/pwned");
    one("symlink-chain", "a -> b -> c -> ../../.. (x7), then a/pwned", t, refused("a/pwned"),
        refused("a/pwned"), refused("a/pwned"));
  }
  {
    TarWriter t;
    t.symlink("a", "b/x").symlink("b", canary).file("a/pwned");
    one("symlink-chain-absolute", "a -> b/x, b -> CANARY, then a/pwned", t, refused("a/pwned"),
        refused("a/pwned"), refused("a/pwned"));
  }
  {
    TarWriter t;
    t.symlink("a", "b").symlink("b", "a").file("a/pwned");
    one("symlink-loop", "a -> b -> a, then a/pwned", t, refused("a/pwned"), refused("a/pwned"),
        refused("a/pwned"));
  }
  {
    TarWriter t;
    t.dir("d").file("d/f", "ok").symlink("d", climb_to(canary)).file("d/pwned");
    one("dir-swapped-same-layer", "d/, d/f, then d -> ../..CANARY, then d/pwned", t,
        refused("d/pwned"), refused("d/pwned"), refused("d/pwned"));
  }
  {
    TarWriter l1, l2, l3;
    l1.dir("d").file("d/f", "ok");
    l2.symlink("d", climb_to(canary));
    l3.file("d/pwned");
    out.push_back({"dir-swapped-later-layer",
                   "layer 1 d/ + d/f, layer 2 d -> ../..CANARY, layer 3 d/pwned",
                   {l1.finish(), l2.finish(), l3.finish()},
                   refused("d/pwned"),
                   kContained,  // each layer alone: layer 3's d/ is its own directory
                   kContained});
  }
  out.push_back(whiteouts_under_symlink_case(canary));
  {
    TarWriter t;
    t.symlink("a", climb_to(canary)).file("a/.wh.file1", "");
    one("whiteout-under-relative-symlink", "a -> ../..CANARY, then a/.wh.file1", t,
        refused("a/.wh.file1"), refused("a/.wh.file1"), refused("a/.wh.file1"));
  }
  {
    TarWriter t;
    t.symlink("a", climb_to(canary)).file("a/.wh..wh..opq", "");
    one("opaque-under-relative-symlink", "a -> ../..CANARY, then a/.wh..wh..opq", t,
        refused("a/.wh..wh..opq"), refused("a/.wh..wh..opq"), refused("a/.wh..wh..opq"));
  }
  {
    TarWriter l1, l2;
    l1.symlink("l", climb_to(canary));
    l2.file(".wh.l", "").file(".wh..wh..opq", "");
    out.push_back({"whiteout-of-symlink",
                   "layer 1 l -> ../..CANARY, layer 2 .wh.l and an opaque root: the link goes, not its target",
                   {l1.finish(), l2.finish()},
                   kContained,
                   kContained,
                   kContained});
  }
  {
    TarWriter t;
    t.dir("d").file("d/.wh...", "");
    one("whiteout-of-dotdot", "d/.wh... (a whiteout of \"..\")", t, refused("d/.wh..."),
        refused("d/.wh..."), kContained);
  }
  {
    TarWriter t;
    t.hardlink("h", climb_to(canary) + "/file1");
    one("hardlink-dotdot", "h hardlinked to ../..CANARY/file1", t, refused("h"), refused("h"),
        refused("h"));
  }
  {
    TarWriter t;
    t.hardlink("h", canary + "/file1");
    one("hardlink-absolute", "h hardlinked to CANARY/file1 (absolute)", t, refused("h"),
        refused("h"), refused("h"));
  }
  {
    TarWriter t;
    t.symlink("l", climb_to(canary)).hardlink("h", "l/file1");
    one("hardlink-through-symlink", "l -> ../..CANARY, h hardlinked to l/file1", t, refused("h"),
        refused("h"), refused("h"));
  }
  {
    TarWriter t;
    t.symlink("l", canary).hardlink("h", "l/file1");
    one("hardlink-through-absolute-symlink", "l -> CANARY, h hardlinked to l/file1", t,
        refused("h"), refused("h"), refused("h"));
  }
  {
    TarWriter t;
    t.dir("d").file("d/x", "x").file("d/.wh.x", "").hardlink("h", "d/.wh.x");
    one("hardlink-to-whiteout", "d/x, d/.wh.x, h hardlinked to d/.wh.x", t, refused("h"),
        refused("h"), kContained);
  }
  {
    TarWriter t;
    t.symlink("l", canary + "/file1").hardlink("h", "l");
    one("hardlink-to-escaping-symlink", "l -> CANARY/file1, h hardlinked to l (links the link)", t,
        kContained, kContained, kContained);
  }
  {
    TarWriter t;
    t.dir("dev").node("dev/mem", 'c', 1, 1).node("dev/sda", 'b', 8, 0).node("dev/fifo", 'p');
    one("device-nodes", "dev/mem (c 1:1), dev/sda (b 8:0), dev/fifo", t, kContained, kContained,
        kContained);
  }
  {
    TarWriter t;
    t.dir("bin").file("bin/su", "#!/bin/sh\n", 04755).file("bin/sg", "#!/bin/sh\n", 02755, 0, 0);
    one("setuid", "bin/su 04755, bin/sg 02755", t, kContained, kContained, kContained);
  }
  {
    TarWriter t;
    t.file("f", "one").file("f", "two").dir("d").file("d", "file now").dir("d");
    t.symlink("s", canary).file("s", "a file, not the canary");
    one("duplicates", "f twice, d dir/file/dir, s symlink to CANARY then a file s", t, kContained,
        kContained, kContained);
  }
  {
    std::string name;
    while (name.size() <= 4200) name += "d123456789/";
    name += "f";
    TarWriter t;
    t.file(name);
    one("name-over-path-max", "a 4.2 kB name (components of 10 bytes)", t, refused("d123456789/d12"),
        refused("d123456789/d12"), refused("d123456789/d12"));
  }
  {
    TarWriter t;
    t.file(std::string(300, 'x'));
    one("component-over-name-max", "a 300-byte file name", t, refused("xxxxxxxxxx"),
        refused("xxxxxxxxxx"), refused("xxxxxxxxxx"));
  }
  {
    TarWriter t;
    t.file("bad-\xff\xfe-name", "latin");
    one("invalid-utf8", "a name with bytes ff fe (stored byte-exact)", t, kContained, kContained,
        kContained);
  }
  {
    TarWriter t;
    t.file("before", "ok").bomb_header("bomb", 1LL << 40);
    one("tar-bomb-size", "a header declaring 1 TiB, cut after it", t, refused("max_bytes"),
        refused("max_bytes"), refused("max_bytes"));
  }
  return out;
}

}  // namespace hoist_test
