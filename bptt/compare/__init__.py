"""Compare: truncation strategies trained side by side over seeds, with statistics and result files."""
