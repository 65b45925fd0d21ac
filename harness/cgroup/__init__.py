"""A thin layer over the cgroup-v2 filesystem: find it, claim a subtree, make trial cgroups."""
