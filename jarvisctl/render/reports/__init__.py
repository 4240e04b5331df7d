"""Reports rendered from a run's audit journal: Markdown, HTML, JSON and JUnit XML."""
