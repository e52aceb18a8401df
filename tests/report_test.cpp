// The report layer: claims, verdicts and rendering against result fixtures (issue 5).
