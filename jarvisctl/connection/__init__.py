"""Connections to hosts: SSH (Fabric/paramiko) and local (subprocess), behind one protocol."""
