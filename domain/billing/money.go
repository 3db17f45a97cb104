package billing

import (
	"fmt"
	"strconv"
	"strings"
)

// CurrencyDecimals returns how many digits of minor units Stripe counts
// the currency (ISO 4217, any case) in: 0 for the zero-decimal currencies
// (JPY, KRW…), 3 for BHD, JOD, KWD, OMR and TND, 2 for the others.
func CurrencyDecimals(currency string) int {
	if d, ok := CurrencyDecimalExceptions()[strings.ToLower(currency)]; ok {
		return d
	}
	return 2
}

// CurrencyDecimalExceptions returns the currencies (lower case) that
// Stripe does not count in hundredths, with their digits of minor units:
// the table behind [CurrencyDecimals], for a client (the billing page's
// script) that formats amounts itself. A fresh map on each call.
func CurrencyDecimalExceptions() map[string]int {
	return map[string]int{
		"bif": 0, "clp": 0, "djf": 0, "gnf": 0, "jpy": 0, "kmf": 0, "krw": 0, "mga": 0,
		"pyg": 0, "rwf": 0, "ugx": 0, "vnd": 0, "vuv": 0, "xaf": 0, "xof": 0, "xpf": 0,
		"bhd": 3, "jod": 3, "kwd": 3, "omr": 3, "tnd": 3,
	}
}

// FormatAmount writes an amount of minor units for people: the major
// units with the currency's decimals and thousands separated by commas,
// after the currency's symbol for USD, EUR, GBP and JPY ("$1,990.00",
// "¥4,900"), else before its code ("1,990.00 CHF").
func FormatAmount(minor int64, currency string) string {
	sign := ""
	abs := uint64(minor)
	if minor < 0 {
		sign, abs = "-", uint64(-(minor+1))+1
	}
	digits := strconv.FormatUint(abs, 10)
	d := CurrencyDecimals(currency)
	if len(digits) <= d {
		digits = strings.Repeat("0", d-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-d], digits[len(digits)-d:]
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	number := b.String()
	if frac != "" {
		number += "." + frac
	}
	switch strings.ToLower(currency) {
	case "usd":
		return sign + "$" + number
	case "eur":
		return sign + "€" + number
	case "gbp":
		return sign + "£" + number
	case "jpy":
		return sign + "¥" + number
	}
	return sign + number + " " + strings.ToUpper(currency)
}

// FormatPrice writes a price for people: [FormatAmount] per interval
// ("$49.00/month", "$120.00/3 months"), or the amount alone for a price
// without an interval.
func FormatPrice(minor int64, currency, interval string, intervalCount int64) string {
	amount := FormatAmount(minor, currency)
	switch {
	case interval == "":
		return amount
	case intervalCount > 1:
		return fmt.Sprintf("%s/%d %ss", amount, intervalCount, interval)
	}
	return amount + "/" + interval
}
