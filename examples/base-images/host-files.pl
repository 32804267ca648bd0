#!/usr/bin/perl
# What make-bases.sh --offline copies from this machine: Debian packages installed here,
# closed over Depends and Pre-Depends, and their files. Reads only dpkg's database and the
# file system; no network.
#
#   perl host-files.pl packages ROOT...   # the closure, one "PACKAGE VERSION" a line (PACKAGE
#                                         # as dpkg-query names it: libc6:amd64), sorted by name
#   perl host-files.pl files PACKAGE...   # their paths (no leading /), sorted, for tar -T
#
# ROOT is a package name, or "essential" for every installed package that is Essential or of
# Priority required (what debootstrap --variant=minbase installs). A root that is not
# installed fails the call, naming it; an alternative (a | b) takes the first one installed.
#
# Paths are the packages' own (dpkg -L), each with its parent directories, written through
# real directories only (on a merged-/usr system /bin/cat becomes usr/bin/cat; /bin stays
# the symlink), so that a tar of them unpacks to the same tree. Left out: /usr/share/doc
# (but each package's copyright), man, info and locale files. Added: dpkg's records of the
# packages (/var/lib/dpkg/info), and the update-alternatives links (/etc/alternatives/cc,
# /usr/bin/cc) whose chosen target is in the set.
use strict;
use warnings;
use Cwd qw(realpath);
use File::Basename qw(dirname basename);

my ($command, @args) = @ARGV;
die "usage: host-files.pl packages ROOT... | files PACKAGE...\n"
  unless defined $command && @args && ($command eq 'packages' || $command eq 'files');

chomp(my $native = `dpkg --print-architecture`);
die "host-files.pl: dpkg --print-architecture failed\n" if $? != 0;

# name -> { pkg => "name" or "name:arch" as dpkg-query takes it, version, deps }
my (%installed, %provider);
open(my $query, '-|', 'dpkg-query', '-W', '-f',
     '${db:Status-Abbrev}\t${binary:Package}\t${Package}\t${Architecture}\t${Version}\t'
     . '${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\t${Provides}\n')
  or die "host-files.pl: dpkg-query: $!\n";
while (my $line = <$query>) {
  chomp $line;
  my ($status, $binary, $name, $arch, $version, $essential, $priority, $deps, $provides) =
    split /\t/, $line, -1;
  next unless $status =~ /^ii/;
  next if exists $installed{$name} && $arch ne $native && $arch ne 'all';
  $installed{$name} = { pkg => $binary, version => $version, deps => $deps,
                        base => ($essential eq 'yes' || $priority eq 'required') };
  for my $p (split /\s*,\s*/, $provides) {
    $p =~ s/\s*\(.*//;
    $provider{$p} //= $name if $p ne '';
  }
}
close $query or die "host-files.pl: dpkg-query failed\n";

sub installed_name {
  my ($dep) = @_;
  $dep =~ s/\s*[\(\[<].*//s;
  $dep =~ s/^\s+|\s+$//g;
  $dep =~ s/:(any|native|\Q$native\E)$//;
  return $dep if exists $installed{$dep};
  return $provider{$dep} if exists $provider{$dep};
  return undef;
}

sub closure {
  my @todo;
  for my $root (@_) {
    if ($root eq 'essential') {
      push @todo, grep { $installed{$_}{base} } sort keys %installed;
    } else {
      my $name = installed_name($root);
      die "host-files.pl: package $root is not installed here (apt-get install $root)\n"
        unless defined $name;
      push @todo, $name;
    }
  }
  my %seen;
  while (defined(my $name = shift @todo)) {
    next if $seen{$name}++;
    for my $group (split /\s*,\s*/, $installed{$name}{deps}) {
      next if $group =~ /^\s*$/;
      for my $alternative (split /\s*\|\s*/, $group) {
        my $dep = installed_name($alternative);
        if (defined $dep) { push @todo, $dep; last; }
      }
    }
  }
  return sort keys %seen;
}

if ($command eq 'packages') {
  print "$installed{$_}{pkg} $installed{$_}{version}\n" for closure(@args);
  exit 0;
}

# files
my @packages = map {
  my $name = installed_name($_);
  die "host-files.pl: package $_ is not installed here\n" unless defined $name;
  $name;
} @args;

my %paths;
sub add_path {
  my ($path) = @_;
  return unless -e $path || -l $path;
  my $dir = dirname($path);
  my $real_dir = realpath($dir);
  return unless defined $real_dir;
  $path = ($real_dir eq '/' ? '' : $real_dir) . '/' . basename($path);
  while ($path ne '/' && !exists $paths{$path}) {
    $paths{$path} = 1;
    $path = dirname($path);
  }
}

sub left_out {
  my ($path) = @_;
  return 0 if $path =~ m{^/usr/share/doc/[^/]+/copyright$};
  return 1 if $path =~ m{^/usr/share/doc/[^/]+/};
  return 1 if $path =~ m{^/usr/share/(man|info|locale)/};
  return 0;
}

open(my $list, '-|', 'dpkg-query', '-L', map { $installed{$_}{pkg} } @packages)
  or die "host-files.pl: dpkg-query -L: $!\n";
while (my $path = <$list>) {
  chomp $path;
  next unless $path =~ m{^/.};       # "diverted by ..." and "/." lines
  next if left_out($path);
  add_path($path);
}
close $list or die "host-files.pl: dpkg-query -L failed\n";

for my $name (@packages) {
  (my $pkg = $installed{$name}{pkg}) =~ s/:.*//;
  add_path($_) for glob("/var/lib/dpkg/info/$pkg.* /var/lib/dpkg/info/$pkg:*.*");
}

# update-alternatives: /etc/alternatives/NAME -> the chosen file, and the generic links
# (/usr/bin/cc -> /etc/alternatives/cc) listed in /var/lib/dpkg/alternatives/NAME.
my %chosen;
if (opendir(my $dh, '/etc/alternatives')) {
  for my $name (readdir $dh) {
    my $link = "/etc/alternatives/$name";
    next unless -l $link;
    my $target = realpath($link);
    next unless defined $target && exists $paths{$target};
    $chosen{$name} = 1;
    add_path($link);
  }
  closedir $dh;
}
for my $name (sort keys %chosen) {
  my $record = "/var/lib/dpkg/alternatives/$name";
  open(my $fh, '<', $record) or next;
  my @lines = map { chomp; $_ } <$fh>;
  close $fh;
  add_path($record);
  my @links = ([$name, $lines[1]]);
  for (my $i = 2; $i + 1 < @lines && $lines[$i] ne ''; $i += 2) {
    push @links, [$lines[$i], $lines[$i + 1]];
  }
  for my $pair (@links) {
    my ($alternative, $generic) = @$pair;
    next unless defined $generic && $chosen{$alternative} && !left_out($generic);
    next unless -l $generic && readlink($generic) eq "/etc/alternatives/$alternative";
    add_path($generic);
  }
}

{
  local $, = '';
  print substr($_, 1), "\n" for sort keys %paths;
}
