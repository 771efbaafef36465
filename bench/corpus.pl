#!/usr/bin/perl
# Deterministic corpus generator and modifier for bench/run.sh.
#
#   corpus.pl large  DIR NFILES TOTAL_BYTES SEED POOL
#       ~NFILES documents, nested folders, sizes from a skewed mix
#       (many small, some over 1 MB) scaled so that they add up to TOTAL_BYTES;
#       60% binary (incompressible), 40% text (hex lines, compresses ~2:1).
#   corpus.pl small  DIR NFILES SEED POOL
#       NFILES small text/binary files (64 B .. 8 KiB, log-uniform),
#       ~100 per folder, two levels of folders.
#   corpus.pl tree   DIR NFILES SEED POOL
#       NFILES files shaped like a home folder: long folder names nested 1 to
#       7 deep, 5 to 60 entries a folder; 75% text of 100 B .. 8 KiB, 22%
#       media of 8 .. 64 KiB, 3% of 64 .. 512 KiB.
#   corpus.pl modify DIR PERCENT SEED POOL
#       overwrites a few bytes in the middle of PERCENT% of the files
#       (every (100/PERCENT)th of the sorted list, at least one), in place,
#       keeping their size; prints how many files it changed.
#
# POOL is a file of random bytes (made by run.sh with openssl or
# /dev/urandom); contents are slices of it, so generation is fast and, with a
# deterministic pool, reproducible.  perl's rand() is seeded with SEED.
use strict;
use warnings;

sub slurp_pool {
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "cannot read pool '$path': $!\n";
	local $/;
	my $pool = <$fh>;
	close($fh);
	die "pool '$path' is too small\n" if length($pool) < 65536;
	return \$pool;
}

sub mkdir_p {
	my ($d) = @_;
	my $p = '';
	for my $c (split m{/}, $d) {
		$p .= ($p eq '' && $c ne '' ? '' : '/') . $c;
		next if $c eq '' || -d $p;
		mkdir($p) or die "mkdir '$p': $!\n";
	}
}

# LEN bytes of content for file number I; TEXT: hex lines.
sub content {
	my ($pool, $len, $text, $header) = @_;
	my $plen = length($$pool);
	my $body = '';
	my $need = $len - length($header);
	$need = 0 if $need < 0;
	while (length($body) < $need) {
		my $want = $need - length($body);
		$want = ($want + 1) >> 1 if $text;
		$want = $plen - 1 if $want > $plen - 1;
		my $off = int(rand($plen - $want));
		my $s = substr($$pool, $off, $want);
		if ($text) {
			$s = unpack('H*', $s);
			$s =~ s/(.{63})/$1\n/g;
		}
		$body .= $s;
	}
	return substr($header . $body, 0, $len);
}

sub write_file {
	my ($path, $data) = @_;
	open(my $fh, '>:raw', $path) or die "cannot write '$path': $!\n";
	print $fh $data or die "cannot write '$path': $!\n";
	close($fh) or die "cannot write '$path': $!\n";
}

sub gen_large {
	my ($dir, $n, $total, $seed, $poolpath) = @_;
	my $pool = slurp_pool($poolpath);
	srand($seed);
	my (@size, @path, @text);
	my $sum = 0;
	my @top = qw(projects photos invoices reports archive music notes scans);
	my @bin = qw(pdf jpg docx xlsx png zip odt);
	my @txt = qw(txt md csv html tex);
	for my $i (0 .. $n - 1) {
		my $r = rand();
		my ($lo, $hi) = $r < 0.70 ? (1024, 65536) : $r < 0.95 ? (65536, 1048576) : (1048576, 8388608);
		my $s = int(exp(log($lo) + rand() * (log($hi) - log($lo))));
		push @size, $s;
		$sum += $s;
		my $depth = int(rand(4));
		my @c = ($top[int(rand(@top))]);
		push @c, sprintf('%s%02d', (qw(a b c d))[$_], int(rand(3))) for 1 .. $depth;
		my $t = rand() < 0.4;
		push @text, $t;
		my $ext = $t ? $txt[int(rand(@txt))] : $bin[int(rand(@bin))];
		push @path, join('/', @c) . sprintf('/file%05d.%s', $i, $ext);
	}
	my $scale = $total / $sum;
	for my $i (0 .. $n - 1) {
		my $s = int($size[$i] * $scale);
		$s = 64 if $s < 64;
		my $p = "$dir/$path[$i]";
		(my $d = $p) =~ s{/[^/]*$}{};
		mkdir_p($d);
		write_file($p, content($pool, $s, $text[$i], "$path[$i]\n"));
	}
}

sub gen_small {
	my ($dir, $n, $seed, $poolpath) = @_;
	my $pool = slurp_pool($poolpath);
	srand($seed);
	my ($lo, $hi) = (64, 8192);
	for my $i (0 .. $n - 1) {
		my $leaf = int($i / 100);
		my $d = sprintf('%s/s%03d/t%02d', $dir, int($leaf / 25), $leaf % 25);
		mkdir_p($d) if $i % 100 == 0;
		my $text = rand() < 0.8;
		my $s = int(exp(log($lo) + rand() * (log($hi) - log($lo))));
		my $name = sprintf('n%06d.%s', $i, $text ? 'txt' : 'dat');
		write_file("$d/$name", content($pool, $s, $text, "$d/$name\n"));
	}
}

# A home folder's shape: folders nested 1 to 7 deep with long names (spaces,
# dates, accents), 5 to 60 entries a folder, mostly small documents and
# notes, some photos and media; NFILES files in all.
sub gen_tree {
	my ($dir, $n, $seed, $poolpath) = @_;
	my $pool = slurp_pool($poolpath);
	srand($seed);
	my @top = ('Documents', 'Photos', 'Projects', 'Music', 'Notes and Drafts', 'Scans',
		   'Archive 2019-2024', 'Invoices & Receipts', "R\x{e9}sum\x{e9}s", 'Shared with Family');
	my @word = qw(annual report meeting notes draft final project budget travel photos
		      holiday client invoice review chapter lecture recipes letters contract
		      research summary backup old misc 2021 2022 2023 2024 january march june);
	my @txt = qw(txt md csv html tex org json);
	my @bin = qw(pdf jpg docx xlsx png odt mp3 heic);
	my @stack = ();
	my ($i, $left) = (0, 0);
	my $cur = '';
	while ($i < $n) {
		if ($left == 0) {
			# a new folder: go up a few levels, then down a few
			my $up = int(rand(@stack + 1));
			splice(@stack, @stack - $up) if $up;
			@stack = ($top[int(rand(@top))]) unless @stack;
			my $down = 1 + int(rand(3));
			while ($down-- > 0 && @stack < 7) {
				my $name = join(' ', map { $word[int(rand(@word))] } 1 .. 1 + int(rand(4)));
				$name .= sprintf(' %04d-%02d', 2010 + int(rand(15)), 1 + int(rand(12))) if rand() < 0.3;
				push @stack, ucfirst($name);
			}
			$cur = join('/', @stack);
			utf8::encode($cur);
			mkdir_p("$dir/$cur");
			$left = 5 + int(rand(56));
		}
		my $r = rand();
		my ($lo, $hi, $text) = $r < 0.75 ? (100, 8192, 1) : $r < 0.97 ? (8192, 65536, 0) : (65536, 524288, 0);
		my $s = int(exp(log($lo) + rand() * (log($hi) - log($lo))));
		my $ext = $text ? $txt[int(rand(@txt))] : $bin[int(rand(@bin))];
		my $name = sprintf('%s %06d.%s', join(' ', map { $word[int(rand(@word))] } 1 .. 1 + int(rand(3))),
				   $i, $ext);
		write_file("$dir/$cur/$name", content($pool, $s, $text, "$cur/$name\n"));
		$i++;
		$left--;
	}
}

sub list_files {
	my ($dir, $out) = @_;
	opendir(my $dh, $dir) or die "cannot read '$dir': $!\n";
	my @e = sort grep { $_ ne '.' && $_ ne '..' && $_ ne '.git' && $_ ne '.dsync' } readdir($dh);
	closedir($dh);
	for my $e (@e) {
		my $p = "$dir/$e";
		if (-l $p) {
			next;
		} elsif (-d _) {
			list_files($p, $out);
		} elsif (-f _) {
			push @$out, $p;
		}
	}
}

sub modify {
	my ($dir, $pct, $seed, $poolpath) = @_;
	my $pool = slurp_pool($poolpath);
	my $plen = length($$pool);
	srand($seed);
	my @files;
	list_files($dir, \@files);
	my $step = $pct > 0 ? int(100 / $pct + 0.5) : 0;
	$step = 1 if $step < 1;
	my $count = 0;
	my $first = int($step / 2);
	$first = 0 if $first >= @files;
	for (my $i = $first; $i < @files; $i += $step) {
		my $p = $files[$i];
		my $s = -s $p;
		next unless $s;
		my $len = int($s / 4);
		$len = 4096 if $len > 4096;
		$len = 1 if $len < 1;
		my $off = int($s / 2) - int($len / 2);
		open(my $fh, '+<:raw', $p) or die "cannot open '$p': $!\n";
		seek($fh, $off, 0) or die "seek '$p': $!\n";
		print $fh substr($$pool, int(rand($plen - $len)), $len) or die "write '$p': $!\n";
		close($fh) or die "write '$p': $!\n";
		$count++;
	}
	print "$count\n";
}

my $cmd = shift @ARGV // '';
if ($cmd eq 'large' && @ARGV == 5) {
	gen_large(@ARGV);
} elsif ($cmd eq 'small' && @ARGV == 4) {
	gen_small(@ARGV);
} elsif ($cmd eq 'tree' && @ARGV == 4) {
	gen_tree(@ARGV);
} elsif ($cmd eq 'modify' && @ARGV == 4) {
	modify(@ARGV);
} else {
	die "usage: corpus.pl large DIR NFILES TOTAL_BYTES SEED POOL\n" .
	    "       corpus.pl small DIR NFILES SEED POOL\n" .
	    "       corpus.pl tree  DIR NFILES SEED POOL\n" .
	    "       corpus.pl modify DIR PERCENT SEED POOL\n";
}
