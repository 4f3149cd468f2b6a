"""Django: sync views on the sync face, one shared portal for the whole process."""
