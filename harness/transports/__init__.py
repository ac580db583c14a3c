"""Transports: one ``Transport``/``ImageReference``/``ImageSource``/``ImageDestination``
abstraction (as in containers/image), implemented by ``docker://``, ``oci:``,
``oci-archive:``, ``dir:``, ``docker-archive:`` and ``containers-storage:``.
"""
