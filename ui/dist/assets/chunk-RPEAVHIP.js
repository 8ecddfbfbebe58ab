import{a,b,c,d}from"./chunk-BTGOW3QZ.js";import"./chunk-RYY7K5SF.js";import"./chunk-GI3XIZI2.js";export{d as css,b as cssCompletionSource,c as cssLanguage,a as defineCSSCompletionSource};
