"""Organization CA, device certificates, canonical signed content, CMS signatures and evidence."""
