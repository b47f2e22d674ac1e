"""What a shared server needs: the runs a session keeps, training slots, the worker threads
that train off the page, exports."""
