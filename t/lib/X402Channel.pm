# Helpers of the batch-settlement tests (t/048, t/049): the channel
# contract's logs and state read from the chain, the official client paying
# channels, and a location that offers them.
package X402Channel;
use strict;
use warnings;
use Exporter 'import';
use JSON::PP;
use Math::BigInt;
use Time::HiRes qw(time sleep);
use X402Test;

our @EXPORT = qw($BS $PRICE head_block logs_since channel_on_chain wait_for
                 metric channel_client statuses channel_location claimed_in
                 channel_key);

our $BS = '0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003';
our $PRICE = Math::BigInt->new('1000000000000000');     # 0.001 OPG

my %TOPIC = (
    deposited => '0x6c2a09353b5e75e70d0b9778b80a413809bb235d46c211811c474b3346791d89',
    claimed   => '0x36bd546bb573e8921fdbfd934bbed62d872796b01792cd240cce27f79dd3eddd',
    settled   => '0x7337b4386b690fdb8ba66905b92b9d45d33bc6626ee2620c905fb150ec0cc47d',
);

sub head_block { hex(rpc_call('eth_blockNumber') // '0x0') }

# the contract's logs of one kind after $block (topic1 $t1 if given)
sub logs_since {
    my ($block, $what, $t1) = @_;
    my $logs = rpc_call('eth_getLogs', { address => $BS,
        fromBlock => sprintf('0x%x', $block + 1), toBlock => 'latest',
        topics => [$TOPIC{$what}, $t1 ? ($t1) : ()] }) // [];
    return grep { !$_->{removed} } @$logs;
}

sub word { Math::BigInt->from_hex('0x' . substr($_[0], 2 + 64 * $_[1], 64)) }

# what Claimed logs claimed, summed (claimAmount is their first data word)
sub claimed_in {
    my $sum = Math::BigInt->new(0);
    $sum += word($_->{data}, 0) for @_;
    return $sum;
}

# channels(id): (balance, totalClaimed), from the chain
sub channel_on_chain {
    my ($id) = @_;
    my $r = rpc_call('eth_call', { to => $BS, data => '0x7a7ebd7b' . substr($id, 2) }, 'latest');
    return (word($r, 0), word($r, 1));
}

sub channel_key { 'x402:ch:8453:' . substr($_[0], 2) }

sub wait_for {
    my ($secs, $cond) = @_;
    my $until = time + $secs;
    while (time < $until) {
        return 1 if $cond->();
        sleep 0.25;
    }
    return $cond->();
}

sub metric {
    my ($srv, $name) = @_;
    my $body = http_request($srv, 'GET /metrics')->{content} // '';
    return $body =~ /^\Q$name\E (\d+)/m ? $1 : 0;
}

# the official client (t/client/channel.mjs): one channel for all requests
sub channel_client {
    my ($urls, %o) = @_;
    my $C = chain_env();
    my $cmd = "node t/client/channel.mjs --rpc $C->{X402_RPC_URL}"
            . ($o{key} ? " --key $o{key}" : '') . ($o{n} ? " --n $o{n}" : '')
            . ($o{c} ? " --c $o{c}" : '') . ($o{salt} ? " --salt $o{salt}" : '')
            . ($o{deposit} ? " --deposit $o{deposit}" : '')
            . ' ' . join(' ', @$urls);
    my $out = `$cmd`;
    return eval { decode_json($out) } // { error => "bad output: $out" };
}

sub statuses { my %s; $s{$_->{status} // 'error'}++ for @{ $_[0]{results} }; \%s }

sub channel_location {
    my ($path, %o) = @_;
    return paid_location($path, echo => 'result', ($o{pass} ? (pass => $o{pass}) : ()),
                         more => join("\n",
        'x402_scheme batch-settlement;',
        'x402_claim_interval ' . ($o{interval} // '8s') . ';',
        ($o{deposit} ? "x402_channel_deposit $o{deposit};" : ())));
}

1;
