// Package voice collects DTMF digits for secure IVR sessions on calls:
// RFC 4733 telephone-events carried in RTP (one key press is one digit
// however many packets carry it), in-band tones in G.711 audio (Goertzel),
// and the collection of one field after another (terminator, restart key,
// timeouts, attempts). Digits are secure values: they live in memory only,
// are handed to the secure pipeline, and are never logged.
package voice
