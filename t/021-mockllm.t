#!/usr/bin/perl
# scripts/mockllm: the deterministic OpenAI-compatible backend and JSON-RPC
# policy endpoint used by the module's end-to-end tests.  Starts it on free
# loopback ports and stops it (also on failure).
use strict;
use warnings;

use Test::More;
use FindBin;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use lib "$FindBin::Bin/lib";
use X402Test qw(free_port stop_child);

my $ROOT    = "$FindBin::Bin/..";
my $MOCKLLM = "$ROOT/scripts/mockllm";
my $http    = HTTP::Tiny->new(timeout => 10);
my %pids;

sub stop_mock {
    my $pid = shift;
    return unless $pids{$pid};
    delete $pids{$pid};
    return stop_child($pid, 3);
}
END { local $?; stop_mock($_) for keys %pids; }
$SIG{INT} = $SIG{TERM} = sub { stop_mock($_) for keys %pids; exit 1 };

# start mockllm with @args; returns (pid, base URL) once /health answers
sub start_mock {
    my @args = @_;
    my $port = free_port();
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        exec 'node', $MOCKLLM, '--port', $port, '--quiet', @args or exit 127;
    }
    $pids{$pid} = 1;
    my $base = "http://127.0.0.1:$port";
    my $deadline = time + 10;
    while (time < $deadline) {
        my $r = $http->get("$base/health");
        return ($pid, $base) if $r->{status} == 200;
        last if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    return ($pid, undef);
}

sub post {
    my ($url, $body, %h) = @_;
    return $http->post($url, { headers => { 'Content-Type' => 'application/json', %h },
                               content => ref $body ? encode_json($body) : $body });
}
sub jbody { my $r = shift; return eval { decode_json($r->{content}) } || {} }

# SSE: list of data payloads (strings) in order; dies on a non-data line
sub sse_events {
    my $text = shift;
    my @ev;
    for my $block (split /\n\n/, $text) {
        next if $block eq '';
        die "not an SSE data line: $block" unless $block =~ /^data: (.*)\z/s;
        push @ev, $1;
    }
    return @ev;
}

my ($pid, $base) = start_mock();
ok($base, 'mockllm starts and answers /health') or BAIL_OUT('mockllm did not start');

my $r = $http->get("$base/health");
is($r->{status}, 200, 'GET /health -> 200');

# ---- chat, non-stream ----------------------------------------------------
my $chat = { model => 'gpt-5', messages => [
    { role => 'system', content => 'be brief' },
    { role => 'user', content => 'what is the price of one token' } ] };
$r = post("$base/v1/chat/completions", $chat);
is($r->{status}, 200, 'chat completion -> 200');
like($r->{headers}{'content-type'}, qr{^application/json}, 'chat reply is JSON');
my $c = jbody($r);
is($c->{object}, 'chat.completion', 'object chat.completion');
is($c->{model}, 'gpt-5', 'model echoed');
my $text = $c->{choices}[0]{message}{content} // '';
like($text, qr/^Mock reply [0-9a-f]{8}: be brief what is/, 'reply derived from the prompt');
is($c->{choices}[0]{finish_reason}, 'stop', 'finish_reason stop');
my @w = split ' ', $text;
is($c->{usage}{prompt_tokens}, 9, 'usage.prompt_tokens = prompt words');
is($c->{usage}{completion_tokens}, scalar @w, 'usage.completion_tokens = reply words');
is($c->{usage}{total_tokens}, 9 + @w, 'usage.total_tokens = sum');

my $c2 = jbody(post("$base/v1/chat/completions", $chat));
is($c2->{choices}[0]{message}{content}, $text, 'same prompt -> same reply');
my $c3 = jbody(post("$base/v1/chat/completions",
                    { model => 'gpt-5', messages => [{ role => 'user', content => 'something else' }] }));
isnt($c3->{choices}[0]{message}{content}, $text, 'other prompt -> other reply');

my $c4 = jbody(post("$base/v1/chat/completions", { %$chat, max_tokens => 2 }));
is($c4->{usage}{completion_tokens}, 2, 'max_tokens truncates the reply');
is($c4->{choices}[0]{finish_reason}, 'length', 'truncated reply has finish_reason length');
my $c5 = jbody(post("$base/v1/chat/completions", $chat, 'X-Mock-Completion-Tokens' => 40));
is($c5->{usage}{completion_tokens}, 40, 'X-Mock-Completion-Tokens forces the completion size');

# ---- completions ---------------------------------------------------------
$r = post("$base/v1/completions", { model => 'gpt-5-mini', prompt => 'one two three' });
is($r->{status}, 200, 'completion -> 200');
$c = jbody($r);
is($c->{object}, 'text_completion', 'object text_completion');
like($c->{choices}[0]{text} // '', qr/^Mock reply [0-9a-f]{8}: one two three$/, 'completion text');
is_deeply($c->{usage}, { prompt_tokens => 3, completion_tokens => 6, total_tokens => 9 }, 'completion usage');

# ---- stream --------------------------------------------------------------
my $plain = jbody(post("$base/v1/chat/completions", $chat));

# as OpenAI: a stream states its usage only when asked for it
$r = post("$base/v1/chat/completions", { %$chat, stream => JSON::PP::true });
is($r->{status}, 200, 'stream without stream_options -> 200');
ok(!(grep { /"usage"/ } eval { sse_events($r->{content}) }),
   'no usage in a stream that did not ask for it');
$r = post("$base/v1/chat/completions", { %$chat, stream => JSON::PP::true,
          stream_options => { include_usage => JSON::PP::false } });
ok(!(grep { /"usage"/ } eval { sse_events($r->{content}) }),
   'no usage with include_usage false');

$r = post("$base/v1/chat/completions", { %$chat, stream => JSON::PP::true,
          stream_options => { include_usage => JSON::PP::true } });
is($r->{status}, 200, 'stream -> 200');
like($r->{headers}{'content-type'}, qr{^text/event-stream}, 'stream is text/event-stream');
my @ev = eval { sse_events($r->{content}) };
is($@, '', 'every event is a "data:" line');
cmp_ok(scalar @ev, '>=', 4, 'several events');
is($ev[-1], '[DONE]', 'last event is [DONE]');
my @chunks = map { decode_json($_) } @ev[0 .. $#ev - 1];
ok(!(grep { ($_->{object} // '') ne 'chat.completion.chunk' } @chunks), 'all chunks are chat.completion.chunk');
my $last = $chunks[-1];
is_deeply($last->{choices}, [], 'final chunk has no choices');
is_deeply($last->{usage}, $plain->{usage}, 'final chunk carries the same usage as the non-stream reply');
ok(!(grep { exists $_->{usage} } @chunks[0 .. $#chunks - 1]), 'only the final chunk carries usage');
my $streamed = join '', map { $_->{choices}[0]{delta}{content} // '' } @chunks[0 .. $#chunks - 1];
is($streamed, $plain->{choices}[0]{message}{content}, 'streamed deltas make up the same reply');
is($chunks[-2]{choices}[0]{finish_reason}, 'stop', 'finish_reason in the chunk before usage');

$r = post("$base/v1/completions", { prompt => 'a b', stream => JSON::PP::true,
          stream_options => { include_usage => JSON::PP::true } });
@ev = eval { sse_events($r->{content}) };
is($ev[-1], '[DONE]', 'completions stream ends with [DONE]');
is_deeply(decode_json($ev[-2])->{usage}, { prompt_tokens => 2, completion_tokens => 5, total_tokens => 7 },
          'completions stream final chunk has usage');

# X-Mock-Pad-Bytes: a big reply, its usage after the padding
$r = post("$base/v1/chat/completions", $chat, 'X-Mock-Pad-Bytes' => 80000);
cmp_ok(length($r->{content}), '>', 80000, 'padded reply is over 80 KB');
ok(index($r->{content}, '"padding":"' . ('p' x 80000) . '"') >= 0
   && index($r->{content}, '"usage":{') > 80000, 'its usage comes after the padding');
is_deeply(jbody($r)->{usage}, $plain->{usage}, 'and is the same usage');

# ---- errors --------------------------------------------------------------
$r = post("$base/v1/chat/completions", '{"model": "gpt-5", "messages": [');
is($r->{status}, 400, 'bad JSON -> 400');
$c = jbody($r);
is($c->{error}{type}, 'invalid_request_error', 'bad JSON: OpenAI-style error type');
ok(length($c->{error}{message} // ''), 'bad JSON: error message');
ok(exists $c->{error}{code} && exists $c->{error}{param}, 'bad JSON: error has code and param');
$r = post("$base/v1/completions", 'nope');
is($r->{status}, 400, 'bad JSON on /v1/completions -> 400');
$r = post("$base/v1/chat/completions", { model => 'gpt-5' });
is($r->{status}, 400, 'missing messages -> 400');
is(jbody($r)->{error}{param}, 'messages', 'missing messages names the param');
$r = post("$base/v1/chat/completions", $chat, 'X-Mock-Status' => 503);
is($r->{status}, 503, 'X-Mock-Status forces an error status');
is(jbody($r)->{error}{type}, 'server_error', 'forced 5xx has an OpenAI-style error');
is($http->get("$base/nope")->{status}, 404, 'unknown path -> 404');
is($http->get("$base/v1/chat/completions")->{status}, 405, 'GET on chat completions -> 405');

# ---- /policy JSON-RPC ----------------------------------------------------
sub policy { jbody(post("$base/policy", @_)) }
$c = policy({ jsonrpc => '2.0', id => 7, method => 'evaluate', params => { model => 'gpt-5', payer => '0xabc' } });
is($c->{jsonrpc}, '2.0', 'policy: jsonrpc 2.0');
is($c->{id}, 7, 'policy: id echoed');
ok($c->{result} && $c->{result}{allow}, 'policy: evaluate allows a normal request');
ok(!exists $c->{error}, 'policy: no error on success');
$c = policy({ jsonrpc => '2.0', id => 'a', method => 'evaluate', params => { model => 'denied-model' } });
ok($c->{result} && !$c->{result}{allow}, 'policy: denied model -> allow false');
is($c->{result}{reason}, 'model_denied', 'policy: deny reason');
$c = policy({ jsonrpc => '2.0', id => 8, method => 'evaluate', params => { deny => JSON::PP::true } });
ok(!$c->{result}{allow}, 'policy: params.deny -> allow false');
$c = policy({ jsonrpc => '2.0', id => 9, method => 'nosuch', params => {} });
is($c->{error}{code}, -32601, 'policy: unknown method -> -32601');
is($c->{id}, 9, 'policy: error keeps the id');
ok(!exists $c->{result}, 'policy: no result on error');
$c = policy({ jsonrpc => '2.0', id => 10, method => 'evaluate', params => [1] });
is($c->{error}{code}, -32602, 'policy: non-object params -> -32602');
$c = policy({ id => 11, method => 'evaluate', params => {} });
is($c->{error}{code}, -32600, 'policy: missing jsonrpc -> -32600');
$c = policy('{"jsonrpc":');
is($c->{error}{code}, -32700, 'policy: bad JSON -> -32700');
ok(exists $c->{id} && !defined $c->{id}, 'policy: parse error has id null');
$c = policy([{ jsonrpc => '2.0', id => 1, method => 'ping' },
             { jsonrpc => '2.0', id => 2, method => 'evaluate', params => {} }]);
is(ref $c eq 'ARRAY' ? scalar @$c : 0, 2, 'policy: batch -> two replies');

# ---- delays --------------------------------------------------------------
my $t0 = time;
post("$base/v1/chat/completions", $chat, 'X-Mock-Delay-Ms' => 300);
cmp_ok(time - $t0, '>=', 0.29, 'X-Mock-Delay-Ms slows the reply');
{
    my ($pid2, $base2) = start_mock('--delay-ms', 200);
    ok($base2, 'second instance with --delay-ms starts');
    my $t = time;
    my $rr = post("$base2/v1/chat/completions", $chat);
    my $dt = time - $t;
    is($rr->{status}, 200, '--delay-ms reply is 200');
    cmp_ok($dt, '>=', 0.19, sprintf('--delay-ms 200 delays the reply (%.2f s)', $dt));
    ok(stop_mock($pid2), 'second instance stops on SIGTERM');
}

# ---- stop ----------------------------------------------------------------
ok(stop_mock($pid), 'mockllm exits on SIGTERM');
ok(!$http->get("$base/health")->{success}, 'port closed after stop');

done_testing();
