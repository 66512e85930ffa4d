"""A request's text, token by token: incremental detokenisation that holds back what may still become a stop
string and cuts a matched one off (the matched string is reported, so nobody re-decodes to find it)."""

from __future__ import annotations


class Detokenizer:
    """Invariant: `text[:emitted]` has gone out in deltas and is never taken back; it holds no stop string."""

    def __init__(self, tokenizer, stops: list[str]):
        self.decoder = tokenizer.stream_decoder(skip_special_tokens=True)
        self.stops = stops
        self.text = ""  # the output so far, without a matched stop string and what followed it
        self.emitted = 0
        self.stop: str | None = None  # the stop string that ended the text

    def add(self, token: int, is_stop_token: bool, final: bool) -> str:
        """The new text `token` makes visible. is_stop_token: the token ends the output without being text (an
        end-of-turn or a stop_token_ids id); final: the output ends with this token for any reason."""
        if is_stop_token:
            self.text += self.decoder.flush()
        else:
            self.text += self.decoder.add(token)
            if final:
                self.text += self.decoder.flush()  # bytes of an unfinished character come out as U+FFFD
        if self.stops:
            # A stop string can only start where text not yet emitted could complete it.
            search_from = max(0, self.emitted - max(len(s) for s in self.stops))
            hits = [(at, order, s) for order, s in enumerate(self.stops) if (at := self.text.find(s, search_from)) >= 0]
            if hits:
                at, _, self.stop = min(hits)
                self.text = self.text[:at]
                final = True
        end = len(self.text)
        if not final and self.stops:
            end -= pending_stop_prefix(self.text, self.stops)
        delta = self.text[self.emitted:end]
        self.emitted = max(self.emitted, end)
        return delta


def pending_stop_prefix(text: str, stops: list[str]) -> int:
    """Length of the longest suffix of text that is a proper prefix of some stop string."""
    longest = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:k]):
                longest = k
                break
    return longest
