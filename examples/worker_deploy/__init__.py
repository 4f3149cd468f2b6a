"""A job-queue worker as a deployment runs it: tasks, a Procfile and a systemd unit."""
