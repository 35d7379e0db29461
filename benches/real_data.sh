# Sourced by the benchmark scripts: the `[input]` tables of the real logs in ../shared/data (CDNOW
# master and Online Retail II, 2009-2010), and of the bundled sample, as TOML strings.
#
#   . benches/real_data.sh
#
# Sets `shared`, `sample_input`, `cdnow_input` and `retail_input`, and defines `generated_input PATH`.
shared="$(cd .. && pwd)/shared/data"
# generated_input PATH: a log with the generator's columns (the sample is one).
generated_input() {
  printf '[input]\ntransactions = "%s"\n[input.columns]\ncustomer_id = "customer_id"\ntimestamp = "ts"\namount = "amount"\norder_id = "order_id"\n' "$1"
}
sample_input="$(generated_input "$PWD/data/sample/transactions.csv")"
cdnow_input="[input]
transactions = \"$shared/cdnow/CDNOW_master.txt\"
delimiter = \"whitespace\"
timestamp_format = \"%Y%m%d\"
[input.columns]
customer_id = \"customer_id\"
timestamp = \"date\"
amount = \"dollar_value\""
retail_input="[input]
transactions = \"$shared/online_retail_ii/online_retail_II_2009_2010.csv.gz\"
where = \"Invoice NOT LIKE 'A%'\"
[input.columns]
customer_id = '\"Customer ID\"'
timestamp = \"InvoiceDate\"
amount = \"Quantity * Price\"
order_id = \"Invoice\""
