package stripe

// InvoiceOf is invoiceOf, for the test holding it to stripe-go's reading.
var InvoiceOf = invoiceOf
