// Package card holds everything about a payment card number that needs no
// I/O: the Luhn check, the brand (IIN range) table with each brand's lengths,
// display grouping and security-code size, as-you-type brand detection, and
// masking helpers. It imports nothing of this project.
package card
