print("radb: under construction")
