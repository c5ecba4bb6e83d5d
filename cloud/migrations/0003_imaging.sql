-- Imaging (issue E): the imager asks for its job with the boot's callback token, and the image URL
-- in that job must point where the machine reached its script (the relay's LAN base, or the cloud
-- itself in direct mode), as the URLs in the script did.
ALTER TABLE boots ADD COLUMN file_base TEXT;
