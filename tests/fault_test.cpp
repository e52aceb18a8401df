// The fault battery: hostile input and failing resources against every model (issue 6).
