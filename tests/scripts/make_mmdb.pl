#!/usr/bin/env perl
# Write a tiny MaxMind-format ASN + country database for tests:
#   make_mmdb.pl OUT.mmdb CIDR=ASN:ORG:CC ...
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift @ARGV or die "usage: $0 OUT.mmdb CIDR=ASN:ORG:CC ...\n";
my %types = (
    autonomous_system_number       => 'uint32',
    autonomous_system_organization => 'utf8_string',
    country                        => 'map',
    iso_code                       => 'utf8_string',
);
# An IPv4-only database unless an IPv6 network is given.
my $v6 = grep { /=/ && (split /=/)[0] =~ /:/ } @ARGV;
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => $v6 ? 6 : 4,
    # tests use the documentation ranges (TEST-NET), which the writer drops by default
    remove_reserved_networks => 0,
    record_size           => 24,
    database_type         => 'pinwatch-test-asn',
    languages             => ['en'],
    description           => { en => 'pinwatch test ASN database' },
    map_key_type_callback => sub { $types{ $_[0] } },
);
for my $arg (@ARGV) {
    my ($cidr, $rest) = split /=/, $arg, 2;
    my ($asn, $org, $cc) = split /:/, $rest, 3;
    # IPv4 networks live in the IPv4 subtree (::/96) of the IPv6 tree, where libmaxminddb
    # looks IPv4 addresses up.
    if ($v6 && $cidr =~ m{^(\d+\.\d+\.\d+\.\d+)/(\d+)$}) {
        $cidr = "::$1/" . (96 + $2);
    }
    $tree->insert_network($cidr, {
        autonomous_system_number       => $asn + 0,
        autonomous_system_organization => $org,
        country                        => { iso_code => $cc },
    });
}
open my $fh, '>:raw', $out or die "cannot write $out: $!\n";
$tree->write_tree($fh);
close $fh;
