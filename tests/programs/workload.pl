#!/usr/bin/perl
# A deterministic Perl text-processing workload for the preload tests
# (tests/programs): generates text with its own generator, counts words with
# hashes, rewrites it with regular expressions, sorts, formats. Prints
# figures that depend only on the data. Scale with the first argument.
use strict;
use warnings;

my $scale = @ARGV ? $ARGV[0] : 1.0;
my $lines = int(20000 * $scale);
$lines = 100 if $lines < 100;

# A linear congruential generator: the same text on every machine.
my $state = 12345;
sub next_rand {
    $state = ($state * 1103515245 + 12345) % 2147483648;
    return $state;
}

my @syllables = qw(ka lo mi ne su ta ri vo pe zu an el or it um);
my @text;
for my $i (1 .. $lines) {
    my @words;
    my $n = 3 + next_rand() % 12;
    for (1 .. $n) {
        my $w = '';
        $w .= $syllables[next_rand() % @syllables] for 1 .. (1 + next_rand() % 4);
        push @words, $w;
    }
    push @text, join(' ', @words) . ((next_rand() % 5) ? '.' : '!');
}

# Word frequencies.
my %count;
for my $line (@text) {
    $count{$_}++ for split /\W+/, $line;
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 9];
print "words ", scalar(keys %count), "\n";
printf "top %s\n", join(' ', map { "$_=$count{$_}" } @top);

# Rewrites: capitalise, swap syllables, collapse repeats.
my $joined = join("\n", @text);
(my $caps = $joined) =~ s/\b(\w)/\u$1/g;
(my $swapped = $joined) =~ s/(ka|lo)(mi|ne)/$2$1/g;
my $repeats = () = $joined =~ /(\w\w)\1/g;
my $checksum = unpack('%32C*', $caps) + unpack('%32C*', $swapped);
print "rewrite ", length($caps), " ", length($swapped), " $repeats $checksum\n";

# Sort lines by length then content; group by first syllable.
my @sorted = sort { length($a) <=> length($b) || $a cmp $b } @text;
print "shortest $sorted[0]\n";
print "longest ", length($sorted[-1]), "\n";
my %groups;
push @{ $groups{ substr($_, 0, 2) } }, $_ for @text;
for my $k (sort keys %groups) {
    my $total = 0;
    $total += length for @{ $groups{$k} };
    printf "group %s %d %d\n", $k, scalar @{ $groups{$k} }, $total;
}

# Build and discard nested structures.
my %index;
for my $i (0 .. $#text) {
    my @w = split / /, $text[$i];
    push @{ $index{$w[0]}{ scalar @w } }, $i;
    delete $index{$w[-1]} if $i % 11 == 0;
}
my $entries = 0;
for my $k (keys %index) { $entries += scalar @{$_} for values %{ $index{$k} } }
print "index ", scalar(keys %index), " $entries\n";
