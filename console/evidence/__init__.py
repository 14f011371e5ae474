"""The analyst's offline workspace over a signed evidence package (issue 10 item 3)."""
