"""A local stand-in for Tencent Cloud's and Alibaba Cloud's SMS APIs (``bankcare sms-sandbox``)."""
